"""Task builder: cut benchmark tasks out of a genome and its annotation (eval/make_task.py)."""
