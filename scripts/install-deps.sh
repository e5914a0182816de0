#!/usr/bin/env bash
# install-deps.sh GROUP... : installs the Debian packages Kiseki needs that
# are missing, and only those, saying which. Groups: build, test, fuzz, bench.
# Runs `apt-get update` first, once, only when something must be installed.
set -euo pipefail

pkgs_build="cmake make gcc pkg-config libnng-dev libmsgpack-dev libzstd-dev
  libpcre2-dev libjansson-dev libmicrohttpd-dev libcurl4-openssl-dev zlib1g-dev"
pkgs_test="libcmocka-dev chromium"
pkgs_fuzz="clang libclang-rt-14-dev"
pkgs_bench="zstd rsyslog bc"

want=""
for g in "$@"; do
  case "$g" in
    build) want="$want $pkgs_build" ;;
    test) want="$want $pkgs_build $pkgs_test" ;;
    fuzz) want="$want $pkgs_build $pkgs_fuzz" ;;
    bench) want="$want $pkgs_build $pkgs_test $pkgs_bench" ;;
    *) echo "install-deps: unknown group '$g'" >&2; exit 2 ;;
  esac
done

missing=""
for p in $want; do
  case " $missing " in *" $p "*) continue ;; esac
  if ! dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed'; then
    missing="$missing $p"
  fi
done
# the UI tests need node and npm; a machine may have them from outside
# Debian (e.g. NodeSource, whose nodejs conflicts with Debian's npm), so
# the commands are checked, not the packages
case " $* " in *" test "*|*" bench "*)
  command -v node >/dev/null 2>&1 || missing="$missing nodejs"
  command -v npm >/dev/null 2>&1 || missing="$missing npm"
esac
case " $* " in *" bench "*)
  command -v python3 >/dev/null 2>&1 || missing="$missing python3"
esac
[ -z "$missing" ] && exit 0

echo "install-deps: installing missing Debian packages:$missing"
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1; then SUDO="sudo"; else
    echo "install-deps: not root and no sudo; install them by hand:$missing" >&2
    exit 1
  fi
fi
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
# shellcheck disable=SC2086
$SUDO apt-get install -y -qq --no-install-recommends $missing
