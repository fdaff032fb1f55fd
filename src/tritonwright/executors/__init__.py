"""Where GPU jobs run: in-process, a local pool with one long-lived worker per GPU, or Ray actors."""
