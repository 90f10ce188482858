"""Typed errors that carry the exit code the CLI returns."""

# Exit codes of every dockyard command.
EXIT_OK = 0
EXIT_FAILED = 1  # a playbook task failed on at least one host
EXIT_USAGE = 2  # bad command line, inventory or variables
EXIT_UNREACHABLE = 3  # at least one host could not be reached
EXIT_ENVIRONMENT = 4  # the control machine lacks something (Docker Engine, debootstrap, Ansible)


class DockyardError(Exception):
    """An expected failure: printed as one line, no traceback."""

    exit_code = EXIT_FAILED

    def __init__(self, message, exit_code=None):
        super().__init__(message)
        if exit_code is not None:
            self.exit_code = exit_code


class UsageError(DockyardError):
    exit_code = EXIT_USAGE


class EnvironmentProblem(DockyardError):
    exit_code = EXIT_ENVIRONMENT
