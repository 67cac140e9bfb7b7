"""Configuration: Serviceguard-style ASCII files <-> validated model <-> binary config.

    text --lexer/parser--> entry tree --build--> model --validate--> problems
                               |  ^
                        compile|  |decode          render (cmgetconf), templates
                               v  |                (cmmakepkg, cmquerycl -C)
                      ClusterConfig / ConfigBlob

Every parameter is declared once (params_cluster.py, params_package.py); parsing,
checks, templates, cmgetconf and the online-change rules all read that declaration.
The entry points for commands and the daemon:

- check.check_config(cluster, packages, file_checker, applied) -> CheckResult
- check.check_files(cluster, packages, file_checker) -> list[Problem]
- online.online_refusals(old, new, Running(...)) -> list[Problem]
- compile.make_blob(config, generation) / read_blob(bytes) / decode_config(blob)
- render.render_cluster(cluster) / render_package(package)
- templates.package_template(modules) / render_cluster_template(name, infos, qs_host)
- source.read_source(path) / read_package_source(path) / to_pb / package_from_pb
"""
