"""dnapt data preparation: FASTA -> windows -> vocabularies -> streamable shards."""

__version__ = "0.1.0"
