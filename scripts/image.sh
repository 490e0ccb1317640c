#!/usr/bin/env bash
# Builds the container image (see Containerfile) with podman, or docker where podman is missing:
#   scripts/image.sh                              # tag zos-orchestrator:latest
#   scripts/image.sh --tag registry.example/zos-orchestrator:0.1.0
#   ZOS_IMAGE_ENGINE=docker scripts/image.sh      # choose the engine
# Steps: a static release binary for the host's architecture (cargo, profile `image`, glibc with crt-static, into
# target/<host triple>/image/), the build context in target/image/context, then `<engine> build`. Prints the image's
# size at the end. Needs the build packages scripts/run installs, and podman or docker.
set -euo pipefail
cd "$(dirname "$0")/.."

tag=zos-orchestrator:latest
while [ $# -gt 0 ]; do
    case "$1" in
        --tag) tag=${2:?--tag needs a value}; shift 2 ;;
        -h|--help) sed -n '2,/^set -euo/p' "$0" | sed '$d; s/^# \{0,1\}//'; exit 0 ;;
        *) echo "error: unknown argument '$1' (see --help)" >&2; exit 2 ;;
    esac
done
engine=${ZOS_IMAGE_ENGINE:-$(command -v podman || command -v docker || true)}
[ -n "$engine" ] || { echo "error: neither podman nor docker found (Debian: apt-get install podman)" >&2; exit 3; }

scripts/ensure-packages build-essential pkg-config ca-certificates ipxe isolinux syslinux-common
host=$(rustc -vV | sed -n 's/^host: //p')
# --target keeps RUSTFLAGS off build scripts and proc macros, which must stay dynamic.
RUSTFLAGS="-C target-feature=+crt-static" cargo build --locked --profile image --target "$host"
binary=target/$host/image/zos-orchestrator
if readelf -l "$binary" | grep -q 'program interpreter'; then
    echo "error: $binary is dynamically linked; the image has no shared libraries" >&2
    exit 1
fi

context=target/image/context
rm -rf "$context"
mkdir -p "$context/data"
cp "$binary" "$context/zos-orchestrator"
cp /etc/ssl/certs/ca-certificates.crt "$context/ca-certificates.crt"
printf 'root:x:0:0:root:/root:/sbin/nologin\nzos:x:10001:10001:zos-orchestrator:/data:/sbin/nologin\n' \
    >"$context/passwd"
printf 'root:x:0:\nzos:x:10001:\n' >"$context/group"

podman_flags=()
# podman's default OCI format has no HEALTHCHECK; the docker format keeps it. No intermediate images: with no RUN
# steps there is nothing worth caching, and they would outlive the image.
[ "$(basename "$engine")" = podman ] && podman_flags=(--format docker --layers=false)
version=$(sed -n 's/^version = "\(.*\)"/\1/p' Cargo.toml | head -1)
revision=$(git rev-parse --short=12 HEAD 2>/dev/null || echo unknown)
"$engine" build "${podman_flags[@]}" --build-arg "VERSION=$version" --build-arg "REVISION=$revision" \
    -f Containerfile -t "$tag" "$context" >&2
size=$("$engine" image inspect --format '{{.Size}}' "$tag")
echo "built $tag with $(basename "$engine"): $((size / 1000 / 1000)) MB ($size bytes)"
