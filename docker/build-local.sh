#!/usr/bin/env bash
# Build the CPU flavour of step images with podman, from a Debian base made here with
# debootstrap (no image registry is reachable from the development and CI machines).
#
#   docker/build-local.sh [TARGET ...]     default: simulate train-chromatin
#
# Installs podman, runc and debootstrap with apt when they are missing (root only), makes
# localhost/exprflow-debian:bookworm once, then builds docker/Dockerfile's targets as
# localhost/exprflow-<target>:latest with the CPU wheels: tensorflow-cpu, and torch from
# the folder pip's find-links names on this machine (WHEELS overrides it). Prints each
# build's wall time and the image size. The GPU images come from the same Dockerfile with
# its default build arguments: `docker buildx bake -f docker/docker-bake.json`.
set -euo pipefail
cd "$(dirname "$0")/.."

BASE=localhost/exprflow-debian:bookworm
MIRROR=${DEBIAN_MIRROR:-http://deb.debian.org/debian}
CA=/etc/ssl/certs/ca-certificates.crt  # the host's bundle (this network's proxy CA in it)
export CONTAINERS_CONF="$PWD/docker/local/containers.conf"
targets=("$@")
[ ${#targets[@]} -gt 0 ] || targets=(simulate train-chromatin)

need=()
for tool in podman runc debootstrap; do command -v "$tool" >/dev/null || need+=("$tool"); done
if [ ${#need[@]} -gt 0 ]; then
  if [ "$(id -u)" != 0 ] || ! command -v apt-get >/dev/null; then
    echo "build-local: missing ${need[*]}; install them (Debian: apt-get install podman runc debootstrap)" >&2
    exit 1
  fi
  apt-get update -qq
  DEBIAN_FRONTEND=noninteractive apt-get install -y -qq podman runc debootstrap >/dev/null
fi
podman=(podman --runtime runc --cgroup-manager=cgroupfs)

if ! "${podman[@]}" image exists "$BASE"; then
  rootfs=$(mktemp -d)
  trap 'rm -rf "$rootfs"' EXIT
  echo "build-local: debootstrap bookworm from $MIRROR -> $BASE"
  start=$SECONDS
  debootstrap --variant=minbase bookworm "$rootfs" "$MIRROR" >/dev/null
  tar -C "$rootfs" -c . | "${podman[@]}" import - "$BASE" >/dev/null
  echo "build-local: base image in $((SECONDS - start)) s"
fi

wheels=${WHEELS:-$(pip config get global.find-links 2>/dev/null || true)}
build=(--network host --build-arg "BASE_IMAGE=$BASE" --build-arg "TENSORFLOW=tensorflow-cpu")
[ -f "$CA" ] && build+=(--volume "$CA:/run/host-ca.crt:ro" --build-arg "CA_BUNDLE=/run/host-ca.crt")
[ -n "$wheels" ] && build+=(--volume "$wheels:/wheels:ro" --build-arg "PIP_FIND_LINKS=/wheels")

for target in "${targets[@]}"; do
  image=localhost/exprflow-$target:latest
  start=$SECONDS
  "${podman[@]}" build "${build[@]}" -f docker/Dockerfile --target "$target" -t "$image" .
  size=$("${podman[@]}" image inspect --format '{{.Size}}' "$image")
  echo "build-local: $image built in $((SECONDS - start)) s, $((size / 1000000)) MB"
done
