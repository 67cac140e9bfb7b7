"""All semantic checks of a whole configuration, in one call.

The parser has already refused what a single line can show (unknown keywords, bad
values, repeats); these checks need several lines, files or the whole cluster.
"""

from cluster.config.model import Config
from cluster.config.problems import Problems
from cluster.config.stopbound import validate_stop
from cluster.config.validate_cluster import validate_cluster
from cluster.config.validate_packages import validate_packages


def validate(config: Config, problems: Problems) -> None:
    """Report every semantic problem of `config` into `problems`."""
    validate_cluster(config.cluster, problems)
    validate_packages(config, problems)
    validate_stop(config, problems)
