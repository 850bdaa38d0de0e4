#!/bin/sh
# Berth attach script: makes this host a node of a Berth cluster (mode attach), or gives this node a server
# certificate of its cluster's new CA after a rotation (mode renew).
# It fetches a server certificate issued by the cluster's own CA, makes dockerd listen with TLS on
# port 2376 (clients must show a certificate from the same CA), then asks Berth to register it (or, in renew
# mode, to take up its new certificates: Berth checks that the same engine answers).
# Environment you may set: BERTH_NODE_ADDRESS (default: this host's first address),
# BERTH_NODE_NAME (default: hostname), BERTH_CERT_DIR (default /etc/docker/berth),
# BERTH_DOCKERD_CMD (start dockerd with this command instead of configuring the system service; its process id
# is kept in $BERTH_CERT_DIR/dockerd.pid, so that renew mode can stop it first).
set -eu
{% autoescape off %}URL={{ url }}
TOKEN={{ token }}
MODE={{ mode }}{% endautoescape %}
ADDRESS="${BERTH_NODE_ADDRESS:-$(hostname -I 2>/dev/null | awk '{print $1}')}"
NAME="${BERTH_NODE_NAME:-$(hostname)}"
CERTS="${BERTH_CERT_DIR:-/etc/docker/berth}"
[ -n "$ADDRESS" ] || { echo "berth: cannot tell this host's address; set BERTH_NODE_ADDRESS" >&2; exit 1; }
command -v dockerd >/dev/null 2>&1 || { echo "berth: dockerd is not installed on this host" >&2; exit 1; }

echo "berth: [1/4] fetching this host's certificate for $ADDRESS"
mkdir -p "$CERTS" && chmod 700 "$CERTS"
curl -fsS -X POST --data-urlencode "address=$ADDRESS" "$URL/api/v1/attach/$TOKEN/certificates" | tar -x -C "$CERTS"
chmod 600 "$CERTS"/*.pem

echo "berth: [2/4] making dockerd listen on $ADDRESS:2376 with TLS"
TLS="--tlsverify --tlscacert=$CERTS/ca.pem --tlscert=$CERTS/cert.pem --tlskey=$CERTS/key.pem -H tcp://$ADDRESS:2376"
if [ -n "${BERTH_DOCKERD_CMD:-}" ]; then
  if [ "$MODE" = renew ]; then
    # The engine reads its certificates when it starts: stop the one this script started before.
    pid=$(cat "$CERTS/dockerd.pid" 2>/dev/null || true)
    [ -n "$pid" ] || { echo "berth: no $CERTS/dockerd.pid: stop dockerd yourself, then run this again" >&2; exit 1; }
    kill -TERM "$pid" 2>/dev/null || true
    i=0
    while kill -0 "$pid" 2>/dev/null && [ "$i" -lt 300 ]; do i=$((i+1)); sleep 0.1; done
  fi
  # shellcheck disable=SC2086
  nohup $BERTH_DOCKERD_CMD $TLS >"$CERTS/dockerd.log" 2>&1 &
  echo "$!" >"$CERTS/dockerd.pid"
else
  mkdir -p /etc/systemd/system/docker.service.d
  cat >/etc/systemd/system/docker.service.d/berth.conf <<UNIT
[Service]
ExecStart=
ExecStart=/usr/sbin/dockerd -H unix:///var/run/docker.sock $TLS
UNIT
  systemctl daemon-reload && systemctl restart docker
fi

echo "berth: [3/4] waiting for the engine to answer"
i=0
while [ "$i" -lt 60 ]; do
  # The engine asks for a client certificate, so the handshake itself fails: only "refused" (7) or
  # "timed out" (28) mean it is not listening yet.
  rc=0; curl -s -o /dev/null --max-time 2 --cacert "$CERTS/ca.pem" "https://$ADDRESS:2376/_ping" || rc=$?
  if [ "$rc" -ne 7 ] && [ "$rc" -ne 28 ]; then break; fi
  i=$((i+1)); sleep 0.5
done

echo "berth: [4/4] registering with Berth"
curl -fsS -X POST --data-urlencode "address=$ADDRESS" --data-urlencode "name=$NAME" \
  "$URL/api/v1/attach/$TOKEN/register"
echo
