//! A three-node Redis Cluster of `redis-server` processes on free loopback ports, no
//! persistence, no replicas: every slot is served, and keys spread over all three nodes.

use std::process::Command;
use std::time::{Duration, Instant};

use crate::probe::redis_ping;
use crate::process::{Recipe, ServiceProcess};

const RECIPE: Recipe<'static> = Recipe {
    name: "redis-server (cluster node)",
    program: "redis-server",
    install_hint: "apt-get install -y redis-server",
    // The cluster bus listens on PORT + 1 (`--cluster-port`).
    needs_next_port: true,
    binds_all_interfaces: false,
};

const NODES: usize = 3;
const FORM_DEADLINE: Duration = Duration::from_secs(20);

/// Three cluster nodes with all 16384 slots assigned; killed on drop.
pub struct RedisCluster {
    nodes: Vec<ServiceProcess>,
    url: String,
}

impl RedisCluster {
    /// Starts three nodes, joins them with `redis-cli --cluster create`, and waits until
    /// every node reports `cluster_state:ok`. Panics with the nodes' logs otherwise.
    pub fn start() -> Self {
        let nodes: Vec<ServiceProcess> = (0..NODES)
            .map(|_| {
                ServiceProcess::start(
                    &RECIPE,
                    |port, dir| {
                        let bus = (port + 1).to_string();
                        let mut args = crate::redis::server_args(port, dir);
                        args.extend(
                            [
                                "--cluster-enabled",
                                "yes",
                                "--cluster-config-file",
                                "nodes.conf",
                                "--cluster-port",
                                &bus,
                                "--cluster-node-timeout",
                                "2000",
                            ]
                            .map(str::to_owned),
                        );
                        args
                    },
                    redis_ping,
                )
            })
            .collect();
        let cluster = Self {
            url: format!("redis://127.0.0.1:{}", nodes[0].port()),
            nodes,
        };
        let mut create = Command::new("redis-cli");
        create.arg("--cluster").arg("create");
        for node in &cluster.nodes {
            create.arg(format!("127.0.0.1:{}", node.port()));
        }
        create.args(["--cluster-replicas", "0", "--cluster-yes"]);
        match create.output() {
            Ok(out) if out.status.success() => {}
            Ok(out) => panic!(
                "redis-cli --cluster create failed: {}\n{}",
                String::from_utf8_lossy(&out.stdout),
                cluster.logs()
            ),
            Err(e) => panic!("redis-cli not runnable ({e}): apt-get install -y redis-tools"),
        }
        let started = Instant::now();
        while !cluster.nodes.iter().all(|n| state_ok(n.port())) {
            assert!(
                started.elapsed() < FORM_DEADLINE,
                "the cluster did not reach cluster_state:ok within {FORM_DEADLINE:?}\n{}",
                cluster.logs()
            );
            crate::process::pause(Duration::from_millis(100));
        }
        cluster
    }

    /// `redis://127.0.0.1:PORT` of the first node (a seed: clients discover the others).
    pub fn url(&self) -> &str {
        &self.url
    }

    /// Every node's port.
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(ServiceProcess::port).collect()
    }

    fn logs(&self) -> String {
        self.nodes
            .iter()
            .map(ServiceProcess::log_tail)
            .collect::<Vec<_>>()
            .join("\n---\n")
    }
}

/// Whether the node at `port` sees a healthy cluster.
fn state_ok(port: u16) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), "cluster", "info"])
        .output()
        .is_ok_and(|out| String::from_utf8_lossy(&out.stdout).contains("cluster_state:ok"))
}

impl std::fmt::Debug for RedisCluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisCluster")
            .field("url", &self.url)
            .finish()
    }
}
