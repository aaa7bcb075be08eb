#!/usr/bin/env bash
# A one-node Slurm cluster on this machine, for tests and for trying `research sweep run --executor slurm` without
# a real cluster. Everything it writes (config, keys, state, spool, logs, pid files) stays in DIR; nothing under
# /etc, /var or /run is read or changed, and a system munged or slurmd, if any, is left alone.
#
#   local-cluster.sh start DIR    write DIR/slurm.conf, start munged, slurmctld and slurmd, wait until the node is
#                                 idle, print `export SLURM_CONF=DIR/slurm.conf`. On a cluster already running from
#                                 DIR it only prints that line.
#   local-cluster.sh stop DIR     cancel the cluster's jobs, then end the daemons whose pids start wrote (TERM, KILL
#                                 after 10 s). Nothing else is signalled. Safe to run again, or on a DIR never started.
#   local-cluster.sh status DIR   which of the three daemons run, and sinfo.
#
# Needs slurm-wlm and munge (Debian/Ubuntu: apt-get install slurm-wlm munge). Tested as root with Slurm 22.05.
# environment/slurm/README.md explains the config line by line.
set -euo pipefail

# The daemons live in sbin, which a non-login root shell or a CI runner may not have on PATH.
PATH=$PATH:/usr/sbin:/sbin
readonly start_timeout=30                    # seconds for the node to become idle
readonly stop_timeout=10                     # seconds between TERM and KILL

die() { echo "local-cluster.sh: error: $*" >&2; exit 1; }

usage() {
  echo "usage: $0 start DIR | stop DIR | status DIR" >&2
  exit 2
}

require_binaries() {
  local missing=() b
  for b in slurmctld slurmd sinfo squeue scancel munged munge unmunge; do
    command -v "$b" >/dev/null 2>&1 || missing+=("$b")
  done
  [ ${#missing[@]} -eq 0 ] || die "missing ${missing[*]}; on Debian/Ubuntu: apt-get install slurm-wlm munge"
}

# Whether PID is a live process (a zombie, dead but not yet reaped by its new parent, is not).
alive() {
  local state
  state=$(sed 's/.*) //' "/proc/$1/stat" 2>/dev/null | cut -d' ' -f1) || return 1
  [ -n "$state" ] && [ "$state" != Z ] && [ "$state" != X ]
}

# The pid in DIR/NAME.pid if that process is alive and is the daemon started from this DIR (its command line names
# a file in DIR), so a pid that the system has since given to another process is never signalled.
our_pid() {
  local name=$1 file="$dir/$1.pid" pid
  [ -s "$file" ] || return 1
  pid=$(tr -dc '0-9' < "$file")
  [ -n "$pid" ] && alive "$pid" || return 1
  local cmd
  cmd=$(tr '\0' ' ' < "/proc/$pid/cmdline" 2>/dev/null) || return 1
  [[ "$cmd" == *"$name"*"$dir/"* ]] || return 1
  echo "$pid"
}

# Ends the daemon NAME if this DIR started it (or the child PID given, which a start that failed knows even before the
# daemon wrote its pid file): TERM, then KILL after the bound. Removes its pid file either way.
end_daemon() {
  local name=$1 pid=${2:-} deadline
  if [ -n "$pid" ] && alive "$pid" || pid=$(our_pid "$name"); then
    kill -TERM "$pid" 2>/dev/null || true
    deadline=$((SECONDS + stop_timeout))
    while alive "$pid" && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.1; done
    if alive "$pid"; then
      echo "local-cluster.sh: $name ($pid) ignored TERM for ${stop_timeout} s; sending KILL" >&2
      kill -KILL "$pid" 2>/dev/null || true
    fi
    echo "stopped $name ($pid)"
  fi
  rm -f "$dir/$name.pid"
}

# A TCP port nothing listens on, from FIRST upwards. ss lists listeners; without ss, a refused connection counts as free.
free_port() {
  local port=$1 skip=${2:-0}
  while [ "$port" -lt 65000 ]; do
    if [ "$port" -ne "$skip" ]; then
      if command -v ss >/dev/null 2>&1; then
        [ -z "$(ss -Hltn "sport = :$port" 2>/dev/null)" ] && { echo "$port"; return; }
      elif ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
        echo "$port"; return
      fi
    fi
    port=$((port + 1))
  done
  die "no free TCP port found"
}

show_log() {
  local file=$1
  [ -s "$file" ] || return 0
  echo "--- last lines of $file:" >&2
  tail -n 15 "$file" >&2
}

munge_works() { munge -n -S "$dir/munge/munge.socket" 2>/dev/null | unmunge -S "$dir/munge/munge.socket" >/dev/null 2>&1; }

node_state() { SLURM_CONF="$dir/slurm.conf" timeout 5 sinfo -h -n localhost -o %T 2>/dev/null | head -n 1; }

start_munged() {
  mkdir -p "$dir/munge"
  chmod 0700 "$dir/munge"
  if munge_works; then
    echo "munged from $dir already running"
    return
  fi
  if [ ! -s "$dir/munge/munge.key" ]; then
    if command -v mungekey >/dev/null 2>&1; then
      mungekey --create --keyfile="$dir/munge/munge.key" >/dev/null
    else
      dd if=/dev/urandom of="$dir/munge/munge.key" bs=1024 count=1 status=none
    fi
  fi
  chmod 0400 "$dir/munge/munge.key"
  # munged forks and writes its own pid file. --force: without it munged refuses a socket in a folder that not every
  # user may enter (DIR/munge is private, as is a test's temp DIR; only this user's jobs run here) and a socket file
  # that a killed munged of this DIR left behind.
  munged --force --socket="$dir/munge/munge.socket" --key-file="$dir/munge/munge.key" \
    --pid-file="$dir/munged.pid" --seed-file="$dir/munge/munged.seed" --log-file="$dir/log/munged.log" \
    </dev/null >>"$dir/log/munged.out" 2>&1 || { show_log "$dir/log/munged.out"; show_log "$dir/log/munged.log"; die "munged did not start"; }
  local i
  for i in $(seq 50); do munge_works && return; sleep 0.1; done
  show_log "$dir/log/munged.log"
  die "munged started but its socket $dir/munge/munge.socket does not answer"
}

write_config() {
  local cpus mem_mb real_mb def_mem ctld_port slurmd_port user
  cpus=$(nproc)
  mem_mb=$(awk '/^MemTotal:/ { print int($2 / 1024) }' /proc/meminfo)
  # Headroom for the system and the daemons: 10 %, at least 512 MB. slurmd drains a node that reports less
  # memory than RealMemory, so this must stay below what it measures.
  real_mb=$((mem_mb - (mem_mb / 10 > 512 ? mem_mb / 10 : 512)))
  [ "$real_mb" -ge 256 ] || real_mb=256
  # A job that asks for no memory gets one CPU's share rather than the whole node, so array tasks can run side by side.
  def_mem=$((real_mb / cpus))
  user=$(id -un)
  # Ports derived from DIR so that two clusters on one machine rarely probe the same ones, then the next free ones.
  local base=$((20000 + $(printf '%s' "$dir" | cksum | cut -d' ' -f1) % 20000))
  ctld_port=$(free_port "$base")
  slurmd_port=$(free_port $((ctld_port + 1)) "$ctld_port")

  cat > "$dir/slurm.conf" <<EOF
# Written by environment/slurm/local-cluster.sh: a one-node cluster on localhost; everything lives in
# $dir. environment/slurm/README.md explains each line.
ClusterName=research-local
SlurmctldHost=localhost(127.0.0.1)
SlurmctldPort=$ctld_port
SlurmdPort=$slurmd_port
CommunicationParameters=NoCtldInAddrAny,NoInAddrAny
SlurmUser=$user
SlurmdUser=$user
AuthType=auth/munge
CredType=cred/munge
AuthInfo=socket=$dir/munge/munge.socket
StateSaveLocation=$dir/state
SlurmdSpoolDir=$dir/spool
SlurmctldPidFile=$dir/slurmctld.pid
SlurmdPidFile=$dir/slurmd.pid
SlurmctldLogFile=$dir/log/slurmctld.log
SlurmdLogFile=$dir/log/slurmd.log
SlurmctldDebug=info
SlurmdDebug=info
ProctrackType=proctrack/linuxproc
TaskPlugin=task/none
JobAcctGatherType=jobacct_gather/none
AccountingStorageType=accounting_storage/none
JobCompType=jobcomp/filetxt
JobCompLoc=$dir/log/jobcomp.log
SchedulerType=sched/backfill
SelectType=select/cons_tres
SelectTypeParameters=CR_Core_Memory
DefMemPerCPU=$def_mem
SlurmdParameters=config_overrides
ReturnToService=2
MpiDefault=none
MailProg=/bin/true
KillWait=5
MinJobAge=300
NodeName=localhost NodeHostname=localhost NodeAddr=127.0.0.1 CPUs=$cpus RealMemory=$real_mb State=UNKNOWN
PartitionName=local Nodes=localhost Default=YES MaxTime=INFINITE State=UP
EOF
}

start() {
  require_binaries
  dir=$(realpath -m "$dir")
  # munged's socket path must fit a Unix socket address (108 bytes).
  [ ${#dir} -le 80 ] || die "DIR path too long for munged's socket (${#dir} characters, at most 80): $dir"
  mkdir -p "$dir"
  dir=$(cd "$dir" && pwd -P)

  if our_pid slurmctld >/dev/null && our_pid slurmd >/dev/null && munge_works; then
    case "$(node_state)" in
      idle|mixed|allocated)
        echo "cluster from $dir already running" >&2
        echo "export SLURM_CONF=$dir/slurm.conf"
        return ;;
    esac
  fi
  # Whatever is left of an earlier start (a daemon that died, or one that hangs) is ended first; a working munged
  # of this DIR is kept.
  end_daemon slurmd >/dev/null; end_daemon slurmctld >/dev/null

  mkdir -p "$dir/state" "$dir/spool" "$dir/log"
  # On any failure from here on, end what this start began, so a failed start leaves nothing running.
  ctld_pid="" slurmd_pid=""
  trap 'status=$?; if [ "$status" -ne 0 ]; then echo "local-cluster.sh: start failed; stopping what it started" >&2
        end_daemon slurmd "$slurmd_pid" >/dev/null 2>&1 || true; end_daemon slurmctld "$ctld_pid" >/dev/null 2>&1 || true
        end_daemon munged >/dev/null 2>&1 || true; fi' EXIT
  start_munged
  write_config

  export SLURM_CONF="$dir/slurm.conf"
  # Foreground mode (-D) in the background: $! is the daemon itself, which also writes its pid file in DIR.
  # -c: a fresh queue, never jobs an earlier start left in DIR/state; -N: this node's name is localhost, whatever
  # hostname says.
  slurmctld -D -c -f "$SLURM_CONF" </dev/null >>"$dir/log/slurmctld.out" 2>&1 &
  ctld_pid=$!
  slurmd -D -N localhost -f "$SLURM_CONF" </dev/null >>"$dir/log/slurmd.out" 2>&1 &
  slurmd_pid=$!

  local deadline=$((SECONDS + start_timeout)) state="" reason="" name pid
  while :; do
    for name in slurmctld slurmd; do
      pid=$ctld_pid; [ "$name" = slurmd ] && pid=$slurmd_pid
      if ! alive "$pid"; then
        show_log "$dir/log/$name.out"; show_log "$dir/log/$name.log"
        die "$name exited during start-up"
      fi
    done
    state=$(node_state)
    case "$state" in idle|mixed|allocated) break ;; esac
    if [ "$SECONDS" -ge "$deadline" ]; then
      show_log "$dir/log/slurmctld.log"; show_log "$dir/log/slurmd.log"
      reason=$(SLURM_CONF="$dir/slurm.conf" timeout 5 sinfo -h -n localhost -o %E 2>/dev/null | head -n 1 || true)
      die "node not idle after ${start_timeout} s (sinfo says '${state:-nothing}'${reason:+, reason: $reason})"
    fi
    sleep 0.2
  done
  # The daemons have written their pid files by now; make sure they hold the pids started here.
  [ "$(cat "$dir/slurmctld.pid" 2>/dev/null)" = "$ctld_pid" ] || echo "$ctld_pid" > "$dir/slurmctld.pid"
  [ "$(cat "$dir/slurmd.pid" 2>/dev/null)" = "$slurmd_pid" ] || echo "$slurmd_pid" > "$dir/slurmd.pid"
  trap - EXIT
  echo "cluster from $dir up: slurmctld $(cat "$dir/slurmctld.pid"), slurmd $(cat "$dir/slurmd.pid"), munged $(cat "$dir/munged.pid" 2>/dev/null || echo '?')" >&2
  echo "export SLURM_CONF=$dir/slurm.conf"
}

stop() {
  [ -d "$dir" ] || { echo "nothing to stop: $dir does not exist"; return 0; }
  dir=$(cd "$dir" && pwd -P)
  # Jobs first, while slurmctld still answers: slurmstepd and the job's processes outlive slurmd otherwise.
  if our_pid slurmctld >/dev/null && [ -f "$dir/slurm.conf" ]; then
    SLURM_CONF="$dir/slurm.conf" timeout 5 scancel --quiet --user="$(id -un)" 2>/dev/null || true
    local i
    for i in $(seq 25); do
      [ -z "$(SLURM_CONF="$dir/slurm.conf" timeout 5 squeue -h -t R,CG -o %i 2>/dev/null)" ] && break
      sleep 0.2
    done
  fi
  # slurmd and slurmctld together, then munged, which they use until they end.
  end_daemon slurmd & end_daemon slurmctld & wait
  end_daemon munged
}

status() {
  dir=$(cd "$dir" && pwd -P)
  local name pid
  for name in slurmctld slurmd munged; do
    if pid=$(our_pid "$name"); then echo "$name: running ($pid)"; else echo "$name: not running"; fi
  done
  if our_pid slurmctld >/dev/null; then SLURM_CONF="$dir/slurm.conf" timeout 5 sinfo || true; fi
}

[ $# -eq 2 ] || usage
dir=$2
case "$1" in
  start) start ;;
  stop) stop ;;
  status) [ -d "$dir" ] || die "$dir does not exist"; status ;;
  *) usage ;;
esac
