#!/usr/bin/env bash
# Make sure a WebGPU-capable Vulkan driver exists for Dawn (npm `webgpu`).
#
# On a machine with a real GPU and its Vulkan driver this does nothing. On a
# bare Debian 12 machine it installs Mesa's lavapipe (a CPU Vulkan driver)
# from bookworm-backports: Dawn refuses bookworm's own Mesa 22 ("required
# feature shaderUniform*ArrayDynamicIndexing"), Mesa >= 25 works.
set -euo pipefail

need_mesa_major=25

have_vulkan_icd() {
  # Any ICD json means some Vulkan driver is installed; lavapipe's is lvp_icd*.json.
  local f
  for f in /usr/share/vulkan/icd.d/*.json /etc/vulkan/icd.d/*.json; do
    [ -e "$f" ] && return 0
  done
  return 1
}

mesa_major() {
  dpkg-query -W -f='${Version}' mesa-vulkan-drivers 2>/dev/null | sed -E 's/^([0-9]+:)?([0-9]+).*/\2/'
}

if have_vulkan_icd && { ! dpkg-query -W mesa-vulkan-drivers >/dev/null 2>&1 || [ "$(mesa_major)" -ge "$need_mesa_major" ]; }; then
  echo "provision: a Vulkan driver is present ($(ls /usr/share/vulkan/icd.d/ 2>/dev/null | tr '\n' ' '))"
  exit 0
fi

fail() {
  cat >&2 <<MSG
provision: cannot install a WebGPU-capable Vulkan driver automatically: $1
Install Mesa >= ${need_mesa_major} (lavapipe) and the Vulkan loader yourself, e.g. on Debian 12:
  echo 'deb http://deb.debian.org/debian bookworm-backports main' > /etc/apt/sources.list.d/backports.list
  apt-get update && apt-get install -y -t bookworm-backports mesa-vulkan-drivers libvulkan1
or install your GPU vendor's Vulkan driver.
MSG
  exit 1
}

command -v apt-get >/dev/null 2>&1 || fail "apt-get not found (not Debian/Ubuntu)"
SUDO=""
if [ "$(id -u)" != 0 ]; then
  command -v sudo >/dev/null 2>&1 || fail "not root and sudo is unavailable"
  SUDO="sudo -n"
fi
. /etc/os-release
[ "${VERSION_CODENAME:-}" = bookworm ] || fail "this script knows Debian 12 (bookworm); found ${PRETTY_NAME:-unknown}"

if ! grep -rqs 'bookworm-backports' /etc/apt/sources.list /etc/apt/sources.list.d/; then
  echo "provision: adding bookworm-backports to apt sources"
  echo 'deb http://deb.debian.org/debian bookworm-backports main' | $SUDO tee /etc/apt/sources.list.d/bookworm-backports.list >/dev/null
fi
echo "provision: apt-get update"
$SUDO apt-get update -q >/dev/null || fail "apt-get update failed"
echo "provision: installing mesa-vulkan-drivers and libvulkan1 from bookworm-backports"
DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -q -t bookworm-backports mesa-vulkan-drivers libvulkan1 >/dev/null \
  || fail "apt-get install -t bookworm-backports mesa-vulkan-drivers libvulkan1 failed"
[ "$(mesa_major)" -ge "$need_mesa_major" ] || fail "installed Mesa $(mesa_major) is older than ${need_mesa_major}"
echo "provision: lavapipe from Mesa $(dpkg-query -W -f='${Version}' mesa-vulkan-drivers) installed"
