"""The testbed: the orchestrator above the three stages (data_prep, trainer, eval).

A recipe fixes every choice of a vocabulary x masking experiment; the testbed shards, analyses,
audits, trains, scores and reports it (docs/testbed.md). Nothing in the stages imports it.
"""
