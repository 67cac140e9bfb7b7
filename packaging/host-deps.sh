#!/usr/bin/env bash
# Installs the Debian packages that building and testing cmcluster need, when missing.
# Runs as root on a fresh Debian machine; as another user it only says what is missing.
set -euo pipefail

need=()
py=${PYTHON:-python3}
# Debian's python3 cannot create a virtualenv without python3-venv (ensurepip).
if ! "$py" -c 'import ensurepip, venv' >/dev/null 2>&1; then
    need+=(python3-venv)
fi
command -v ip >/dev/null 2>&1 || need+=(iproute2)
# The multi-host tests: partitions with nftables, ping between hosts.
command -v nft >/dev/null 2>&1 || need+=(nftables)
command -v ping >/dev/null 2>&1 || need+=(iputils-ping)
# The lab's client sends gratuitous ARP with arping to check the client's view.
command -v arping >/dev/null 2>&1 || need+=(iputils-arping)
# The resource driver tests: loop-device filesystems, LVM tags, real OCF agents
# (Filesystem needs modprobe).
command -v mkfs.ext4 >/dev/null 2>&1 || need+=(e2fsprogs)
command -v mkfs.xfs >/dev/null 2>&1 || need+=(xfsprogs)
command -v vgcreate >/dev/null 2>&1 || need+=(lvm2)
[ -x /usr/lib/ocf/resource.d/heartbeat/Dummy ] || need+=(resource-agents)
command -v modprobe >/dev/null 2>&1 || need+=(kmod)
command -v losetup >/dev/null 2>&1 || need+=(mount)
# The RPC fuzz test tells cmcld's own writes apart (nothing outside CMCLUSTER_ROOT).
command -v strace >/dev/null 2>&1 || need+=(strace)

[ ${#need[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ] || ! command -v apt-get >/dev/null 2>&1; then
    echo "host-deps: please install these packages first: ${need[*]}" >&2
    exit 1
fi
echo "host-deps: installing ${need[*]}"
export DEBIAN_FRONTEND=noninteractive
apt-get update -qq
apt-get install -y -qq --no-install-recommends "${need[@]}" >/dev/null
