#!/bin/sh
# Prints an xorg.conf for a guest desktop: the dummy video driver (no GPU, no
# display needed) at one WIDTHxHEIGHT mode, depth 24, with the xen3d module.
#   guest-xorg-conf.sh MODULE_DIR [WIDTHxHEIGHT]     (default 1024x768)
# Start Xorg with it as: XEN3D_VM_NAME=name XEN3D_TRANSPORT=local:/path.sock \
#   Xorg :N -config FILE -noreset -nolisten tcp      (-noreset: Xorg 21.1 with
#   the dummy driver aborts on a server reset, with or without the module)
set -eu
[ $# -ge 1 ] || { echo "usage: $0 MODULE_DIR [WIDTHxHEIGHT]" >&2; exit 2; }
module_dir=$1
size=${2:-1024x768}
w=${size%x*}
h=${size#*x}
case "$w$h" in *[!0-9]*|"") echo "$0: size must be WIDTHxHEIGHT" >&2; exit 2 ;; esac
modeline=$(cvt "$w" "$h" 60 | sed -n 's/^Modeline "[^"]*"/Modeline "guest"/p')
# Enough video memory for the mode (KiB), with room to spare.
videoram=$(( w * h * 4 / 1024 * 2 + 4096 ))
cat <<CONF
Section "Files"
  ModulePath "$module_dir"
  ModulePath "/usr/lib/xorg/modules"
EndSection
Section "Module"
  Load "xen3d"
EndSection
Section "Device"
  Identifier "dummy"
  Driver "dummy"
  VideoRam $videoram
EndSection
Section "Monitor"
  Identifier "monitor"
  HorizSync 5.0-1000.0
  VertRefresh 5.0-200.0
  $modeline
EndSection
Section "Screen"
  Identifier "screen"
  Device "dummy"
  Monitor "monitor"
  DefaultDepth 24
  SubSection "Display"
    Depth 24
    Modes "guest"
    Virtual $w $h
  EndSubSection
EndSection
CONF
