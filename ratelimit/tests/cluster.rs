//! Shared mode against a real three-node Redis Cluster: the limiter reaches every node
//! through one seed (following MOVED redirects), and instances still share one budget.

#![allow(clippy::unwrap_used, reason = "test helpers: a panic is a failed test")]

mod support;

use std::collections::BTreeSet;

use outscope_ratelimit::{DecidedBy, Decision, OnRedisError};
use outscope_testkit::RedisCluster;
use support::{cluster_instance, shared, unique_prefix};

fn remaining(decision: Decision) -> Option<u32> {
    assert_eq!(decision.decided_by(), DecidedBy::Redis, "{decision:?}");
    decision.is_allowed().then(|| decision.remaining())
}

/// The port of the node holding `key`: the only one that answers `EXISTS` with 1 (the
/// others answer with a MOVED redirect).
async fn owner(ports: &[u16], key: &str) -> Option<u16> {
    for &port in ports {
        let mut c = redis::Client::open(format!("redis://127.0.0.1:{port}"))
            .unwrap()
            .get_multiplexed_async_connection()
            .await
            .unwrap();
        let exists: Result<i64, _> = redis::cmd("EXISTS").arg(key).query_async(&mut c).await;
        if exists == Ok(1) {
            return Some(port);
        }
    }
    None
}

#[tokio::test]
async fn limits_on_a_cluster_span_every_node_and_instances_share_one_budget() {
    let cluster = RedisCluster::start();
    let prefix = unique_prefix("cluster");
    let east = shared(
        cluster_instance(cluster.url(), &prefix),
        OnRedisError::FailClosed,
    );
    let west = shared(
        cluster_instance(cluster.url(), &prefix),
        OnRedisError::FailClosed,
    );

    // Enough clients that their keys land on every node, most of them not the seed.
    let mut nodes = BTreeSet::new();
    for i in 0..24 {
        let client = format!("client-{i}");
        assert_eq!(remaining(east.check(client.as_bytes()).await), Some(2));
        assert_eq!(remaining(west.check(client.as_bytes()).await), Some(1));
        assert_eq!(remaining(east.check(client.as_bytes()).await), Some(0));
        let fourth = west.check(client.as_bytes()).await;
        assert!(
            matches!(
                fourth,
                Decision::Limited {
                    decided_by: DecidedBy::Redis,
                    ..
                }
            ),
            "{fourth:?}"
        );
        let key = east.redis_key(client.as_bytes());
        let node = owner(&cluster.ports(), &key).await;
        assert!(
            node.is_some(),
            "no node holds the limiter's key for {client}"
        );
        nodes.extend(node);
    }
    assert_eq!(
        nodes.len(),
        3,
        "keys reached {nodes:?} of {:?}",
        cluster.ports()
    );
}
