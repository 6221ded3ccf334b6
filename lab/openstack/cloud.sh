#!/usr/bin/env bash
# The lab's OpenStack: Debian 12's Zed (Keystone, Glance, Placement, Nova, Neutron ML2 with the router service
# plugin, its Linux bridge and L3 agents), MariaDB, RabbitMQ and memcached, every one started here by hand (no
# systemd) inside the network namespace fl-os, listening on that namespace's loopback. The real Pulumi CLI runs in
# the same namespace, so the API is 127.0.0.1 to it and nothing listens anywhere else. The one stand-in is the
# hypervisor: nova-compute runs lab/hypervisor/fleet_lab_driver.py, which boots a systemd-nspawn host per server.
# fl-os is also the lab's internet: it holds the external network's gateway (198.51.100.1) and the operator's
# address (203.0.113.2), so what dials a floating IP from here reaches it through the server's router.
# Facts behind each step: ../shared/research/real-openstack.md. Data, configs, logs and pid files live in
# $FLEET_LAB_CLOUD_DIR.
set -euo pipefail

usage() {
  cat <<'EOF'
Usage: bash lab/openstack/cloud.sh up|down|status|env [--wipe] [--help]

  up       start every service that is not running (first run: databases, schemas, the service catalogue);
           quick when the cloud already answers. One line per step with its time, then a summary.
  down     stop every process this cloud started (all of namespace fl-os); data is kept
  down --wipe
           also delete the cloud's data (databases, images, keys, logs) and the namespace
  status   one line per service: running or not (exit 1 if any is down)
  env      print the admin credentials as OS_* lines (for openstacksdk or the openstack CLI, inside fl-os)
  --help   this text

Environment: FLEET_LAB_CLOUD_DIR (default /var/lib/fleet-lab/cloud): where the cloud keeps its data.
Needs root and the packages of scripts/setup/debian-packages.txt (bash scripts/setup.sh --no-up).
EOF
}

cmd="${1:-}"
wipe=0
for a in "${@:2}"; do
  case "$a" in
    --wipe) wipe=1 ;;
    --help | -h) usage; exit 0 ;;
    *) echo "cloud: unknown argument '$a' (see --help)" >&2; exit 2 ;;
  esac
done
case "$cmd" in
  up | down | status | env) ;;
  --help | -h | help) usage; exit 0 ;;
  *) echo "cloud: expected up, down, status or env (see --help)" >&2; exit 2 ;;
esac

NS=fl-os
D="${FLEET_LAB_CLOUD_DIR:-/var/lib/fleet-lab/cloud}"
REGION=RegionOne # the services' own region; lab/openstack/catalogue.py adds each stack's region beside it
here="$(cd "$(dirname "$0")" && pwd)"
# OpenStack's Python code is Debian's: never a python3 from another PATH entry (pyenv's lacks oslo_config).
export PATH=/usr/sbin:/usr/bin:/sbin:/bin
PY=/usr/bin/python3

# Every service: name, port to probe ("" = none), pid file stem.
SERVICES=(mariadb:3306 rabbitmq:5672 memcached:11211 keystone:5000 placement:8778 glance:9292 neutron:9696 nova-api:8774
  nova-conductor: nova-scheduler: nova-compute: neutron-linuxbridge-agent: neutron-l3-agent: cinder-api:8776
  cinder-scheduler: cinder-volume:)
REPO="$(cd "$here/../.." && pwd)"
EXTERNAL_GW=198.51.100.1/24
OPERATOR_IP=203.0.113.2

now_ms() { echo $(($(date +%s%N) / 1000000)); }
t_all=$(now_ms)
t_step=$(now_ms)
secs() { printf '%d.%d' $((($(now_ms) - $1) / 1000)) $(((($(now_ms) - $1) % 1000) / 100)); }
step() { printf '[cloud %6ss] %-40s %s\n' "$(secs "$t_all")" "$1" "${2:-}"; t_step=$(now_ms); }
took() { echo "$(secs "$t_step") s"; }
die() { echo "cloud: $*" >&2; exit 1; }

# The cloud's network namespace only: the machine's mounts stay in view (the hypervisor's hosts are mounted there).
in_ns() { nsenter --net="/run/netns/$NS" "$@"; }
ns_exists() { ip netns list | grep -qw "^$NS"; }
answers() { in_ns bash -c "exec 3<>/dev/tcp/127.0.0.1/$1" 2>/dev/null; }
pid_alive() { [ -f "$D/run/$1.pid" ] && kill -0 "$(cat "$D/run/$1.pid")" 2>/dev/null; }
running() { # service[:port]
  local name="${1%%:*}" port="${1#*:}"
  pid_alive "$name" || return 1
  [ -z "$port" ] || answers "$port"
}
wait_for() { # what, seconds, command...
  local what="$1" limit="$2" deadline=$((SECONDS + $2))
  shift 2
  until "$@"; do
    [ $SECONDS -lt $deadline ] || die "$what did not come up within $limit s; see $D/logs/"
    sleep 0.2
  done
}
# Every daemon gets this environment and nothing of its caller's: a test run's TMPDIR, removed when the run ends,
# once left MariaDB unable to make a temporary table (every query with one failed: "Can't create/write to file").
DAEMON_ENV=(env -i PATH="$PATH" HOME=/root LANG=C.UTF-8 TMPDIR="$D/tmp")
# Written beside each pid file at start: /proc/PID/environ cannot tell, as neutron's daemons overwrite it with their
# process titles (setproctitle).
DAEMON_ENV_ID="$(printf '%s\n' "${DAEMON_ENV[@]}" | sha256sum | cut -c1-16)"
# The pid file holds the daemon's own pid: the shell writes its pid, then becomes the daemon (setsid may fork first).
start() { # name, command... : started in the namespace, its own session, output to logs/<name>.out
  local name="$1"
  shift
  rm -f "$D/run/$name.pid"
  # shellcheck disable=SC2016 # expanded by the inner shell
  in_ns "${DAEMON_ENV[@]}" setsid bash -c 'echo $$ >"$0"; exec "$@"' "$D/run/$name.pid" "$@" >"$D/logs/$name.out" 2>&1 </dev/null &
  wait_for "$name to start" 10 test -s "$D/run/$name.pid"
  echo "$DAEMON_ENV_ID" >"$D/run/$name.env"
  conf_sum "$name" >"$D/run/$name.conf"
}
start_agent() { # name, command... : as start, but with /sys showing the namespace's own devices (ip netns exec),
  # which Neutron's agents read to find and wire tap devices
  local name="$1"
  shift
  rm -f "$D/run/$name.pid"
  # shellcheck disable=SC2016 # expanded by the inner shell
  ip netns exec "$NS" "${DAEMON_ENV[@]}" setsid bash -c 'echo $$ >"$0"; exec "$@"' "$D/run/$name.pid" "$@" >"$D/logs/$name.out" 2>&1 </dev/null &
  wait_for "$name to start" 10 test -s "$D/run/$name.pid"
  echo "$DAEMON_ENV_ID" >"$D/run/$name.env"
  conf_sum "$name" >"$D/run/$name.conf"
}
conf_of() { # the config files a service reads (none for MariaDB, RabbitMQ and memcached: their flags are fixed)
  case "$1" in
    keystone) echo "$D/etc/keystone.conf" ;;
    placement) echo "$D/etc/placement/placement.conf" ;;
    glance) echo "$D/etc/glance-api.conf" ;;
    nova-compute) echo "$D/etc/nova-compute.conf" ;;
    nova-*) echo "$D/etc/nova.conf" ;;
    neutron-l3-agent) echo "$D/etc/neutron.conf $D/etc/l3_agent.ini" ;;
    neutron*) echo "$D/etc/neutron.conf" ;;
    cinder-*) echo "$D/etc/cinder.conf" ;;
  esac
}
conf_sum() { # what the service's config files hold, as one hash
  local files
  read -ra files <<<"$(conf_of "$1")"
  [ ${#files[@]} = 0 ] || cat "${files[@]}" | sha256sum | cut -c1-16
}
secret() { # a password made once and kept in the cloud's 0600 secrets file
  local f="$D/secrets/$1"
  [ -s "$f" ] || { head -c 24 /dev/urandom | base64 | tr -d '/+=' >"$f"; chmod 600 "$f"; }
  cat "$f"
}

if [ "$cmd" = status ]; then
  bad=0
  for s in "${SERVICES[@]}"; do
    if ns_exists && running "$s"; then echo "running  ${s%%:*}"; else echo "down     ${s%%:*}"; bad=1; fi
  done
  exit $bad
fi

if [ "$cmd" = env ]; then
  [ -s "$D/secrets/admin" ] || die "the lab cloud was never started (bash lab/openstack/cloud.sh up)"
  cat <<EOF
OS_AUTH_URL=http://127.0.0.1:5000/v3
OS_IDENTITY_API_VERSION=3
OS_USERNAME=admin
OS_PASSWORD=$(cat "$D/secrets/admin")
OS_PROJECT_NAME=admin
OS_USER_DOMAIN_NAME=Default
OS_PROJECT_DOMAIN_NAME=Default
OS_REGION_NAME=$REGION
EOF
  exit 0
fi

if [ "$cmd" = down ]; then
  stopped=0
  # The servers' hosts first: powered off, their disks kept (--wipe: deleted).
  guests=0
  for dir in "$D"/hosts/*/; do
    [ -f "$dir/guest.json" ] || continue
    id="$(basename "$dir")"
    if [ $wipe = 1 ]; then op=destroy; else op=power-off; fi
    /usr/bin/node "$REPO/node_modules/tsx/dist/cli.mjs" "$REPO/lab/hypervisor/cli.ts" "$op" "$id" || true
    guests=$((guests + 1))
  done
  if ns_exists; then
    # Everything the cloud started runs in its namespace (epmd and rabbit's helpers too): stop them all.
    pids="$(ip netns pids "$NS" || true)"
    if [ -n "$pids" ]; then
      # shellcheck disable=SC2086 # a list of pids
      kill -TERM $pids 2>/dev/null || true
      stopped=$(wc -w <<<"$pids")
      deadline=$((SECONDS + 20))
      while [ -n "$(ip netns pids "$NS")" ] && [ $SECONDS -lt $deadline ]; do sleep 0.2; done
      left="$(ip netns pids "$NS" || true)"
      # shellcheck disable=SC2086
      [ -z "$left" ] || kill -KILL $left 2>/dev/null || true
    fi
  fi
  rm -f "$D"/run/*.pid 2>/dev/null || true
  # The L3 agent's router namespaces hold no process; it makes them again when it starts.
  for r in $(ip netns list | awk '/^qrouter-/ {print $1}'); do ip netns del "$r"; done
  if [ $wipe = 1 ]; then
    for m in "$D"/data/cinder-mnt/*/; do if mountpoint -q "$m"; then umount "$m"; fi; done
    ns_exists && ip netns del "$NS"
    rm -rf "$D"
    echo "cloud: stopped $stopped processes and $guests hosts, deleted $D and namespace $NS"
  else
    echo "cloud: stopped $stopped processes and $guests hosts (data kept in $D)"
  fi
  exit 0
fi

# ---- up ----
[ "$(id -u)" = 0 ] || die "run as root"
for b in mariadbd /usr/lib/rabbitmq/bin/rabbitmq-server memcached uwsgi keystone-manage glance-api neutron-server nova-api \
  neutron-linuxbridge-agent neutron-l3-agent cinder-api cinder-volume mount.nfs; do
  command -v "$b" >/dev/null || [ -x "$b" ] || die "$b is missing: bash scripts/setup.sh --no-up installs the lab's packages"
done
mkdir -p "$D"/{etc,logs,run,data,secrets,tmp}
chmod 700 "$D" "$D/secrets"

DBPASS="$(secret db)"
RABBITPASS="$(secret rabbit)"
SVCPASS="$(secret service)"
ADMINPASS="$(secret admin)"
DB="mysql+pymysql://os:$DBPASS@127.0.0.1"
TRANSPORT="rabbit://openstack:$RABBITPASS@127.0.0.1:5672/"
VOLUME_SHARE="127.0.0.1:$D/data/volumes"

# ---- configs (written on every up: the same inputs give the same files) ----
authtoken() { # the [keystone_authtoken] block of a service
  cat <<EOF
[keystone_authtoken]
www_authenticate_uri = http://127.0.0.1:5000
auth_url = http://127.0.0.1:5000
memcached_servers = 127.0.0.1:11211
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $1
password = $SVCPASS
region_name = $REGION
EOF
}
client() { # a service-to-service client block: section, user
  cat <<EOF
[$1]
auth_url = http://127.0.0.1:5000/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = $2
password = $SVCPASS
region_name = $REGION
EOF
}
umask 077
mkdir -p "$D/etc/placement" "$D/data/volumes" "$D/data/cinder" "$D/data/keystone-fernet" "$D/data/keystone-cred" "$D/data/glance-images" \
  "$D/data/glance-staging" "$D/data/glance-tasks" "$D/data/locks" "$D/data/nova" "$D/data/neutron"
cat >"$D/etc/keystone.conf" <<EOF
[DEFAULT]
log_dir = $D/logs
[database]
connection = $DB/keystone
[token]
provider = fernet
[fernet_tokens]
key_repository = $D/data/keystone-fernet
[fernet_receipts]
key_repository = $D/data/keystone-fernet
[credential]
key_repository = $D/data/keystone-cred
[cache]
enabled = true
backend = dogpile.cache.memcached
memcache_servers = 127.0.0.1:11211
EOF
# uwsgi's http-socket drops idle keep-alive connections, and a client's next POST on the pooled connection then
# fails (GETs are retried, POSTs are not): every answer closes its connection.
uwsgi_ini() { # name, port, wsgi file, processes, threads, env
  cat <<EOF
[uwsgi]
http-socket = 127.0.0.1:$2
wsgi-file = $3
plugins = python3
master = true
processes = $4
threads = $5
enable-threads = true
lazy-apps = true
buffer-size = 65535
die-on-term = true
env = $6
add-header = Connection: close
EOF
}
uwsgi_ini keystone 5000 /usr/bin/keystone-wsgi-public 2 4 "OS_KEYSTONE_CONFIG_FILES=$D/etc/keystone.conf" >"$D/etc/keystone-uwsgi.ini"
uwsgi_ini placement 8778 /usr/bin/placement-api 1 8 "OS_PLACEMENT_CONFIG_DIR=$D/etc/placement" >"$D/etc/placement-uwsgi.ini"
{
  cat <<EOF
[DEFAULT]
log_dir = $D/logs
[placement_database]
connection = $DB/placement
[api]
auth_strategy = keystone
EOF
  authtoken placement
} >"$D/etc/placement/placement.conf"
{
  cat <<EOF
[DEFAULT]
bind_host = 127.0.0.1
bind_port = 9292
workers = 1
log_file = $D/logs/glance-api.log
enabled_backends = fs:file
[database]
connection = $DB/glance
[paste_deploy]
flavor = keystone
config_file = /etc/glance/glance-api-paste.ini
[glance_store]
default_backend = fs
[fs]
filesystem_store_datadir = $D/data/glance-images
[os_glance_staging_store]
filesystem_store_datadir = $D/data/glance-staging
[os_glance_tasks_store]
filesystem_store_datadir = $D/data/glance-tasks
[oslo_concurrency]
lock_path = $D/data/locks
EOF
  authtoken glance
} >"$D/etc/glance-api.conf"
nova_common() { # the part every nova process shares; the API and the controllers add the databases
  cat <<EOF
[DEFAULT]
transport_url = $TRANSPORT
my_ip = 127.0.0.1
host = compute1
# The lab hypervisor (lab/hypervisor/fleet_lab_driver.py): FakeDriver's bookkeeping plus a booted host per server.
compute_driver = fleet_lab_driver.LabDriver
# One compute host: a resize must be allowed to land where the server already is (nova/compute/api.py, resize).
allow_resize_to_same_host = true
enabled_apis = osapi_compute
osapi_compute_listen = 127.0.0.1
osapi_compute_listen_port = 8774
osapi_compute_workers = 1
state_path = $D/data/nova
log_dir = $D/logs
[wsgi]
api_paste_config = /etc/nova/api-paste.ini
[api]
auth_strategy = keystone
[service_user]
send_service_user_token = true
auth_url = http://127.0.0.1:5000/v3
auth_type = password
project_domain_name = Default
user_domain_name = Default
project_name = service
username = nova
password = $SVCPASS
region_name = $REGION
[glance]
api_servers = http://127.0.0.1:9292
[neutron]
endpoint_override = http://127.0.0.1:9696
EOF
  client neutron neutron | tail -n +2
  # Volumes: Nova asks Cinder for a volume's connection at boot (block device mappings) and on attach.
  client cinder nova
  echo "os_region_name = $REGION"
  client placement placement
  authtoken nova
  cat <<EOF
[conductor]
workers = 1
[scheduler]
workers = 1
discover_hosts_in_cells_interval = 30
[quota]
driver = nova.quota.NoopQuotaDriver
[vnc]
enabled = false
[oslo_concurrency]
lock_path = $D/data/locks
EOF
}
{
  nova_common
  printf '[api_database]\nconnection = %s/nova_api\n[database]\nconnection = %s/nova\n' "$DB" "$DB"
} >"$D/etc/nova.conf"
# nova-compute must not see the databases (it refuses DB access and logs a traceback when configured with them).
nova_common >"$D/etc/nova-compute.conf"
{
  cat <<EOF
[DEFAULT]
core_plugin = ml2
service_plugins = router
bind_host = 127.0.0.1
bind_port = 9696
auth_strategy = keystone
api_paste_config = /etc/neutron/api-paste.ini
transport_url = $TRANSPORT
notify_nova_on_port_status_changes = true
notify_nova_on_port_data_changes = true
dhcp_agent_notification = false
api_workers = 1
rpc_workers = 1
rpc_state_report_workers = 1
# The agents run on the compute host's name, so Nova's ports bind to its Linux bridge agent.
host = compute1
state_path = $D/data/neutron
log_dir = $D/logs
[database]
connection = $DB/neutron
[oslo_concurrency]
lock_path = $D/data/locks
[ml2]
# One compute host: tenant networks are local bridges (no tunnel is needed between hosts that do not exist).
type_drivers = local,flat
tenant_network_types = local
mechanism_drivers = linuxbridge
extension_drivers = port_security
[ml2_type_flat]
flat_networks = public
[securitygroup]
enable_security_group = true
firewall_driver = iptables
[experimental]
# Zed marks the Linux bridge driver experimental (neutron/common/experimental.py): the lab chooses it on purpose,
# because its agent needs no Open vSwitch daemon and wires plain veths by name.
linuxbridge = true
[linux_bridge]
physical_interface_mappings = public:ext0
[vxlan]
enable_vxlan = false
[agent]
# Running as root: commands need no sudo/rootwrap in front of them.
root_helper =
polling_interval = 1
EOF
  authtoken neutron
  client nova nova
} >"$D/etc/neutron.conf"
# Cinder with its NFS driver: each volume is a raw file on the share. The lab's NFS server is this machine's
# directory $D/data/volumes, and its "mount" a bind mount where the driver looks (see "volume share" below): the
# kernel here has no NFS client. The lab hypervisor opens the same file as the server's disk.
{
  cat <<EOF
[DEFAULT]
transport_url = $TRANSPORT
my_ip = 127.0.0.1
host = storage1
auth_strategy = keystone
osapi_volume_listen = 127.0.0.1
osapi_volume_listen_port = 8776
osapi_volume_workers = 1
state_path = $D/data/cinder
log_dir = $D/logs
enabled_backends = nfs
glance_api_servers = http://127.0.0.1:9292
api_paste_config = /etc/cinder/api-paste.ini
[database]
connection = $DB/cinder
[oslo_concurrency]
lock_path = $D/data/locks
[nfs]
volume_driver = cinder.volume.drivers.nfs.NfsDriver
volume_backend_name = nfs
nfs_shares_config = $D/etc/nfs_shares
nfs_mount_point_base = $D/data/cinder-mnt
nfs_sparsed_volumes = true
nfs_snapshot_support = false
nas_secure_file_operations = false
nas_secure_file_permissions = false
EOF
  authtoken cinder
  client nova nova
} >"$D/etc/cinder.conf"
echo "$VOLUME_SHARE" >"$D/etc/nfs_shares"
cat >"$D/etc/l3_agent.ini" <<EOF
[DEFAULT]
interface_driver = linuxbridge
EOF
umask 022
step "configs" "$D/etc"

all_up=1
if ns_exists; then for s in "${SERVICES[@]}"; do running "$s" || all_up=0; done; else all_up=0; fi
# nova-compute (the hypervisor) and the Linux bridge agent (its ebtables fix) run code of one checkout, as it was
# when they started: another checkout's up, or a changed file, restarts them.
code_of() { echo "$REPO $(sha256sum "$1" | cut -c1-16)"; }
restart_if_changed() { # name, file
  [ "$(cat "$D/run/$1.code" 2>/dev/null)" != "$(code_of "$2")" ] && pid_alive "$1" || return 0
  # Two nova-computes on one host would share its queue, each taking every other build: the old one must be gone.
  kill "$(cat "$D/run/$1.pid")" 2>/dev/null || true
  gone() { ! pid_alive "$1"; }
  wait_for "the old $1 to exit" 60 gone "$1"
  all_up=0
}
# A daemon started before DAEMON_ENV runs with its caller's environment, one started before its config changed
# (written above on every up) with the old one: start it again.
own_env() { [ "$(cat "$D/run/$1.env" 2>/dev/null)" = "$DAEMON_ENV_ID" ]; }
own_conf() { [ "$(cat "$D/run/$1.conf" 2>/dev/null)" = "$(conf_sum "$1")" ]; }
for s in "${SERVICES[@]}"; do
  n=${s%%:*}
  if pid_alive "$n" && { ! own_env "$n" || ! own_conf "$n"; }; then
    # Its whole process group (setsid made it the leader): rabbitmq-server's beam goes with its script.
    kill -TERM -- "-$(cat "$D/run/$n.pid")" 2>/dev/null || true
    gone() { ! pid_alive "$1"; }
    wait_for "$n to exit (restarted with the cloud's environment and config)" 60 gone "$n"
    all_up=0
  fi
done
restart_if_changed nova-compute "$REPO/lab/hypervisor/fleet_lab_driver.py"
restart_if_changed neutron-linuxbridge-agent "$here/linuxbridge_agent.py"
# The catalogue (users, roles, endpoints) is made again when services.py changed.
[ "$(cat "$D/data/catalogue.code" 2>/dev/null)" = "$(code_of "$here/services.py")" ] || all_up=0
if [ $all_up = 1 ]; then
  step "all services" "already running"
  exit 0
fi

if ! ns_exists; then ip netns add "$NS"; fi
if true; then
  ip netns exec "$NS" ip link set lo up
  # The lab's internet: ext0 is the external network's wire (the Linux bridge agent bridges it as physnet
  # "public"), inet0 its other end, the upstream gateway routers send to. The operator dials from 203.0.113.2.
  if ! ip -n "$NS" link show ext0 >/dev/null 2>&1; then
    ip -n "$NS" link add ext0 type veth peer name inet0
    ip -n "$NS" addr add "$EXTERNAL_GW" dev inet0
    ip -n "$NS" addr add "$OPERATOR_IP/32" dev lo
    ip -n "$NS" link set ext0 up
    ip -n "$NS" link set inet0 up
    ip -n "$NS" route replace "${EXTERNAL_GW%.*}.0/24" dev inet0 src "$OPERATOR_IP"
    ip netns exec "$NS" sysctl -qw net.ipv4.ip_forward=1
  fi
  step "namespace $NS" "loopback, external wire, operator $OPERATOR_IP"
fi


# MariaDB, with its own data directory and socket (a system MariaDB, if any, is not touched).
if ! running mariadb:3306; then
  if [ ! -d "$D/data/mysql/mysql" ]; then
    mariadb-install-db --user=root --datadir="$D/data/mysql" --auth-root-authentication-method=socket >"$D/logs/mariadb-install.log" 2>&1 ||
      die "mariadb-install-db failed; see $D/logs/mariadb-install.log"
  fi
  start mariadb mariadbd --user=root --datadir="$D/data/mysql" --socket="$D/run/mysqld.sock" --pid-file="$D/run/mariadbd.pid" \
    --bind-address=127.0.0.1 --port=3306 --skip-name-resolve --max-connections=500 --innodb-buffer-pool-size=64M
  wait_for "MariaDB" 60 answers 3306
fi
mysql_root() { mariadb --socket="$D/run/mysqld.sock" -uroot; }
# Every up (each statement is idempotent): a cloud made before a service was added gets its database too.
{
  for db in keystone glance placement nova_api nova nova_cell0 neutron cinder; do echo "CREATE DATABASE IF NOT EXISTS $db;"; done
  echo "CREATE USER IF NOT EXISTS 'os'@'127.0.0.1' IDENTIFIED BY '$DBPASS';"
  echo "GRANT ALL PRIVILEGES ON *.* TO 'os'@'127.0.0.1'; FLUSH PRIVILEGES;"
} | mysql_root
step "mariadb" "$(took)"

# RabbitMQ as root, with its node, cookie, database and logs under $D; epmd bound to the namespace's loopback.
mkdir -p "$D/data/rabbitmq" "$D/logs/rabbitmq"
RABBIT_ENV=(env HOME="$D/data/rabbitmq" RABBITMQ_NODENAME=rabbit@localhost RABBITMQ_NODE_IP_ADDRESS=127.0.0.1
  RABBITMQ_NODE_PORT=5672 ERL_EPMD_ADDRESS=127.0.0.1 RABBITMQ_DIST_PORT=25672 RABBITMQ_MNESIA_BASE="$D/data/rabbitmq/mnesia"
  RABBITMQ_LOG_BASE="$D/logs/rabbitmq" RABBITMQ_PID_FILE="$D/run/rabbitmq-beam.pid"
  RABBITMQ_SERVER_ADDITIONAL_ERL_ARGS="-kernel inet_dist_use_interface {127,0,0,1}")
rabbitmqctl() { in_ns "${RABBIT_ENV[@]}" /usr/lib/rabbitmq/bin/rabbitmqctl -q "$@"; }
if ! running rabbitmq:5672; then
  start rabbitmq "${RABBIT_ENV[@]}" /usr/lib/rabbitmq/bin/rabbitmq-server
  wait_for "RabbitMQ" 90 answers 5672
  rabbitmqctl await_startup >/dev/null 2>&1 || die "RabbitMQ did not finish starting; see $D/logs/rabbitmq/"
fi
if ! rabbitmqctl list_users 2>/dev/null | grep -q '^openstack'; then
  # The password on stdin, not on a command line.
  { printf '%s\n' "$RABBITPASS" | rabbitmqctl add_user openstack && rabbitmqctl set_permissions openstack '.*' '.*' '.*'; } \
    >"$D/logs/rabbitmq-users.log" 2>&1 || die "rabbitmqctl add_user failed; see $D/logs/rabbitmq-users.log"
fi
step "rabbitmq" "$(took)"

if ! running memcached:11211; then
  start memcached memcached -u root -l 127.0.0.1 -p 11211 -m 64
  wait_for "memcached" 20 answers 11211
fi
step "memcached" "$(took)"


# ---- schemas: once per package version (each sync is idempotent, but together they take about 35 s) ----
pkgv() { dpkg-query -W -f='${Version}' "$1" | tr ':~' '__'; }
synced() { # marker, command...
  local m="$D/data/synced-$1"
  shift
  [ -f "$m" ] && return 0
  in_ns "$@" >>"$D/logs/db-sync.log" 2>&1 || die "$* failed; see $D/logs/db-sync.log"
  touch "$m"
}
synced "keystone-$(pkgv keystone)" keystone-manage --config-file "$D/etc/keystone.conf" db_sync
if [ ! -f "$D/data/keystone-fernet/0" ]; then
  in_ns keystone-manage --config-file "$D/etc/keystone.conf" fernet_setup --keystone-user root --keystone-group root >>"$D/logs/db-sync.log" 2>&1
  in_ns keystone-manage --config-file "$D/etc/keystone.conf" credential_setup --keystone-user root --keystone-group root >>"$D/logs/db-sync.log" 2>&1
fi
synced "keystone-bootstrap" keystone-manage --config-file "$D/etc/keystone.conf" bootstrap --bootstrap-password "$ADMINPASS" \
  --bootstrap-region-id "$REGION" --bootstrap-admin-url http://127.0.0.1:5000/v3/ \
  --bootstrap-internal-url http://127.0.0.1:5000/v3/ --bootstrap-public-url http://127.0.0.1:5000/v3/
synced "glance-$(pkgv glance-api)" glance-manage --config-file "$D/etc/glance-api.conf" db_sync
synced "placement-$(pkgv placement-api)" placement-manage --config-file "$D/etc/placement/placement.conf" db sync
synced "nova-api-$(pkgv nova-api)" nova-manage --config-file "$D/etc/nova.conf" api_db sync
synced "nova-cell0" nova-manage --config-file "$D/etc/nova.conf" cell_v2 map_cell0
synced "nova-cell1" nova-manage --config-file "$D/etc/nova.conf" cell_v2 create_cell --name=cell1
synced "nova-$(pkgv nova-api)" nova-manage --config-file "$D/etc/nova.conf" db sync
synced "neutron-$(pkgv neutron-server)" neutron-db-manage --config-file "$D/etc/neutron.conf" upgrade heads
synced "cinder-$(pkgv cinder-api)" cinder-manage --config-file "$D/etc/cinder.conf" db sync
step "schemas" "$(took)"

# ---- services ----
running keystone:5000 || start keystone uwsgi --ini "$D/etc/keystone-uwsgi.ini"
wait_for "keystone" 60 answers 5000
step "keystone" "$(took)"

# The service users and endpoints: one openstacksdk process, not one CLI call each.
# The passwords travel in the environment, never on a command line.
OS_PASSWORD="$ADMINPASS" SERVICE_PASSWORD="$SVCPASS" in_ns "$PY" "$here/services.py" "$REGION" >"$D/logs/services.log" 2>&1 ||
  die "the service catalogue failed; see $D/logs/services.log"
code_of "$here/services.py" >"$D/data/catalogue.code"
step "service catalogue" "$(took)"

running placement:8778 || start placement uwsgi --ini "$D/etc/placement-uwsgi.ini"
running glance:9292 || start glance glance-api --config-file "$D/etc/glance-api.conf"
running neutron:9696 || start neutron neutron-server --config-file "$D/etc/neutron.conf"
running nova-api:8774 || start nova-api nova-api --config-file "$D/etc/nova.conf"
running nova-conductor: || start nova-conductor nova-conductor --config-file "$D/etc/nova.conf"
running nova-scheduler: || start nova-scheduler nova-scheduler --config-file "$D/etc/nova.conf"
for p in 8778:placement 9292:glance 9696:neutron 8774:nova-api; do wait_for "${p#*:}" 120 answers "${p%%:*}"; done
step "placement, glance, neutron, nova api" "$(took)"

if ! running neutron-linuxbridge-agent:; then
  start_agent neutron-linuxbridge-agent "$PY" "$here/linuxbridge_agent.py" --config-file "$D/etc/neutron.conf" \
    --log-file "$D/logs/neutron-linuxbridge-agent.log"
  code_of "$here/linuxbridge_agent.py" >"$D/run/neutron-linuxbridge-agent.code"
fi
running neutron-l3-agent: || start_agent neutron-l3-agent neutron-l3-agent --config-file "$D/etc/neutron.conf" --config-file "$D/etc/l3_agent.ini"
# Ports bind to a host whose Linux bridge agent is alive (neutron/plugins/ml2/drivers/mech_agent.py bind_port).
agents_alive() { [ "$(mariadb --socket="$D/run/mysqld.sock" -uroot -N -e \
  "SELECT COUNT(*) FROM neutron.agents WHERE host='compute1' AND admin_state_up=1 AND heartbeat_timestamp > UTC_TIMESTAMP() - INTERVAL 60 SECOND AND agent_type IN ('Linux bridge agent','L3 agent')")" = 2 ]; }
wait_for "the Linux bridge and L3 agents" 120 agents_alive
step "neutron linuxbridge and l3 agents" "$(took)"

if ! running nova-compute:; then
  start nova-compute env PYTHONPATH="$here/../hypervisor" FLEET_LAB_REPO="$REPO" \
    "$PY" -c 'import sys, fleet_lab_driver; from nova.cmd.compute import main
# Nova looks drivers up under nova.virt only (nova/virt/driver.py, load_compute_driver).
sys.modules["nova.virt.fleet_lab_driver"] = fleet_lab_driver
sys.exit(main())' \
    --config-file "$D/etc/nova-compute.conf" --log-file "$D/logs/nova-compute.log"
  code_of "$REPO/lab/hypervisor/fleet_lab_driver.py" >"$D/run/nova-compute.code"
fi
# The compute host must be in a cell before the scheduler places anything on it.
discovered() { in_ns nova-manage --config-file "$D/etc/nova.conf" cell_v2 discover_hosts >/dev/null 2>&1 &&
  in_ns nova-manage --config-file "$D/etc/nova.conf" cell_v2 list_hosts 2>/dev/null | grep -q compute1; }
wait_for "nova-compute registration" 120 discovered
step "nova compute (lab hypervisor) in cell1" "$(took)"

# The volume share, "mounted" where the NFS driver mounts it (os_brick RemoteFsClient.mount: a mount point already
# in /proc/mounts is taken as mounted).
share_dir="$D/data/cinder-mnt/$(printf '%s' "$VOLUME_SHARE" | md5sum | cut -c1-32)"
if ! mountpoint -q "$share_dir"; then
  mkdir -p "$share_dir"
  mount --bind "$D/data/volumes" "$share_dir"
fi
running cinder-api:8776 || start cinder-api cinder-api --config-file "$D/etc/cinder.conf"
running cinder-scheduler: || start cinder-scheduler cinder-scheduler --config-file "$D/etc/cinder.conf"
running cinder-volume: || start cinder-volume cinder-volume --config-file "$D/etc/cinder.conf"
wait_for "cinder-api" 120 answers 8776
volume_up() { [ "$(mariadb --socket="$D/run/mysqld.sock" -uroot -N -e \
  "SELECT COUNT(*) FROM cinder.services WHERE topic='cinder-volume' AND disabled=0 AND updated_at > UTC_TIMESTAMP() - INTERVAL 60 SECOND")" -ge 1 ]; }
wait_for "cinder-volume to report" 120 volume_up
step "cinder (volumes in $D/data/volumes)" "$(took)"

step "ready" "every service in $NS on 127.0.0.1; $(ip netns pids "$NS" | wc -l) processes; data in $D"
