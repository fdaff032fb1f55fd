"""Exceptions that mean "the user gave us something wrong": the CLI prints them as one line."""

from __future__ import annotations


class UserInputError(Exception):
    """A mistake in what the user passed (file, flag, value). Printed without a traceback."""


class TaskError(UserInputError):
    """The task file (KernelBench format) is missing something or cannot be used."""


class CandidateError(UserInputError):
    """The candidate file cannot be used as given (syntax, missing ModelNew, ...)."""
