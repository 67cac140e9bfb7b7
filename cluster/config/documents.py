"""Configuration texts into normalized documents: the cluster file, package files.

The front door of parsing. A legacy package is its PKG.conf text plus the text of its
control script; both end as one document of modular entries (see legacy.py).
"""

from cluster.config.legacy import merge_control_script
from cluster.config.params_cluster import CLUSTER_SCHEMA
from cluster.config.params_package import MULTI_NODE, PACKAGE_SCHEMA
from cluster.config.parser import check_required, draft, parse_document
from cluster.config.problems import Problems
from cluster.config.schema import Param
from cluster.config.source import PackageSource, Source
from cluster.config.tree import Document, normalize


def cluster_document(source: Source, problems: Problems) -> Document:
    return parse_document(source.text, source.path, CLUSTER_SCHEMA, problems)


def package_document(source: PackageSource, problems: Problems) -> Document:
    root = draft(source.text, source.path, PACKAGE_SCHEMA, problems)
    if source.control is not None:
        control = source.control
        name = source.control_name or control.path
        merge_control_script(root, control, name, source.path, problems)
    check_required(root, PACKAGE_SCHEMA, source.path, problems)
    entries = root.freeze().children
    package_type = next((e.value for e in entries if e.keyword == "PACKAGE_TYPE"), None)

    def skip(param: Param) -> bool:
        return param.failover_only and package_type == MULTI_NODE

    return Document("package", source.path, normalize(entries, PACKAGE_SCHEMA.params, skip))
