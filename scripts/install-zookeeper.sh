#!/usr/bin/env bash
# Installs Debian's ZooKeeper (and a Java runtime through its dependencies) when it is missing.
# Used by `make run` and `make test`, so a fresh Debian machine needs nothing by hand.
set -euo pipefail
if [ -f /usr/share/java/zookeeper.jar ] && command -v java >/dev/null 2>&1; then
  exit 0
fi
echo "installing Debian's zookeeper package..." >&2
SUDO=""
if [ "$(id -u)" != 0 ]; then SUDO="sudo"; fi
$SUDO apt-get update -qq
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq zookeeper >/dev/null
test -f /usr/share/java/zookeeper.jar
