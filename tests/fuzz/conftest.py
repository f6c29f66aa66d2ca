"""The atheris harness runs under ``make fuzz``, not pytest (atheris is no dev dependency)."""

collect_ignore = ["fuzz_decoder.py"]
