//! Each service starts on its own port, answers, and stops refusing connections when stopped.

use std::net::{Ipv4Addr, TcpStream};

use outscope_testkit::{LocalStripe, OpenBao, RedisServer, shared_redis};

fn accepts_connections(port: u16) -> bool {
    TcpStream::connect((Ipv4Addr::LOCALHOST, port)).is_ok()
}

#[test]
fn redis_starts_answers_and_stops() {
    let mut redis = RedisServer::start();
    assert_eq!(redis.url(), format!("redis://127.0.0.1:{}", redis.port()));
    assert!(redis.is_running(), "log: {}", redis.log_tail());

    redis.stop();

    assert!(!redis.is_running());
    assert!(
        !accepts_connections(redis.port()),
        "port still open after stop"
    );
}

#[test]
fn a_stopped_redis_restarts_on_the_same_port() {
    let mut redis = RedisServer::start();
    let port = redis.port();
    redis.stop();
    assert!(!accepts_connections(port));

    redis.restart();

    assert_eq!(redis.port(), port);
    assert!(redis.is_running(), "log: {}", redis.log_tail());
}

#[test]
fn two_redis_servers_get_different_ports() {
    let a = RedisServer::start();
    let b = RedisServer::start();
    assert_ne!(a.port(), b.port());
}

#[test]
fn dropping_a_server_kills_it() {
    let port = {
        let redis = RedisServer::start();
        redis.port()
    };
    assert!(
        !accepts_connections(port),
        "redis on {port} survived its handle"
    );
}

#[test]
fn shared_redis_reuses_the_runs_redis_when_there_is_one() {
    let redis = shared_redis();
    match std::env::var(outscope_testkit::env::REDIS_URL) {
        Ok(url) => {
            assert_eq!(redis.url(), url);
            assert!(!redis.is_private());
        }
        Err(_) => assert!(redis.is_private()),
    }
    let port: u16 = redis.url().rsplit(':').next().unwrap().parse().unwrap();
    assert!(
        accepts_connections(port),
        "{} does not accept connections",
        redis.url()
    );
}

#[test]
fn openbao_starts_unsealed_with_a_random_root_token() {
    let mut bao = OpenBao::start();
    let other = OpenBao::start();
    assert!(bao.is_running(), "log: {}", bao.log_tail());
    assert_ne!(bao.root_token(), other.root_token());
    assert_eq!(bao.addr(), format!("http://127.0.0.1:{}", bao.port()));

    bao.stop();

    assert!(!accepts_connections(bao.port()));
}

#[test]
fn localstripe_starts_and_stops() {
    let mut stripe = LocalStripe::start();
    assert!(stripe.is_running(), "log: {}", stripe.log_tail());

    stripe.stop();

    assert!(!accepts_connections(stripe.port()));
}
