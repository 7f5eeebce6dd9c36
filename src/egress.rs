//! Requests to URLs that users type (a brain's base URL or hook). An agent owner must not be
//! able to make Switchboard read this machine or its private networks and show the answer as
//! the agent's reply, so every such request is checked where it connects:
//! - a host name is resolved by [`Guarded`], which keeps only the public addresses it resolves to
//!   (the connection goes to exactly those, so a name that changes its answer between a check
//!   and the connection — DNS rebinding — gains nothing);
//! - an address written in the URL never reaches a resolver, so [`Egress::check_url`] checks it
//!   before the request and on every redirect;
//! - answers are read up to a size cap.
//!
//! The operator may allow some internal hosts or networks (`SWITCHBOARD_OUTBOUND_ALLOW`): a model
//! served on the same machine or network.

use std::{
    fmt,
    net::{IpAddr, Ipv4Addr, SocketAddr},
    sync::Arc,
    time::Duration,
};

/// What the operator allows although it is internal: host names (exactly) and networks.
#[derive(Debug, Clone, Default)]
pub struct Egress {
    hosts: Vec<String>,
    networks: Vec<(IpAddr, u8)>,
}

/// Why a URL may not be called.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub host: String,
    pub address: Option<IpAddr>,
}

impl fmt::Display for Refused {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.address {
            Some(ip) if ip.to_string() == self.host => write!(f, "{ip} is an internal address"),
            Some(ip) => write!(f, "{} resolves to the internal address {ip}", self.host),
            None => write!(f, "{} is an internal host", self.host),
        }?;
        f.write_str(
            " (this machine, a private network or a cloud metadata service); Switchboard calls such \
             addresses only when the operator allows them with SWITCHBOARD_OUTBOUND_ALLOW",
        )
    }
}

impl std::error::Error for Refused {}

impl Egress {
    /// Parses a comma-separated list of host names, addresses and networks (`10.1.0.0/16`).
    pub fn parse(list: &str) -> Result<Self, String> {
        let mut allowed = Self::default();
        for item in list.split(',').map(str::trim).filter(|i| !i.is_empty()) {
            if let Some((ip, bits)) = item.split_once('/') {
                let ip: IpAddr = ip.parse().map_err(|_| format!("{item:?} is not a network (address/bits)"))?;
                let max = if ip.is_ipv4() { 32 } else { 128 };
                let bits: u8 = bits.parse().ok().filter(|b| *b <= max).ok_or_else(|| {
                    format!(
                        "{item:?}: the prefix length of an IPv{} network is 0 to {max}",
                        if max == 32 { 4 } else { 6 }
                    )
                })?;
                allowed.networks.push((canonical(ip), bits));
            } else if let Ok(ip) = item.trim_start_matches('[').trim_end_matches(']').parse::<IpAddr>() {
                let ip = canonical(ip);
                allowed.networks.push((ip, if ip.is_ipv4() { 32 } else { 128 }));
            } else if item.chars().all(|c| c.is_ascii_alphanumeric() || c == '.' || c == '-') {
                allowed.hosts.push(item.trim_end_matches('.').to_ascii_lowercase());
            } else {
                return Err(format!("{item:?} is neither a host name, an address nor a network"));
            }
        }
        Ok(allowed)
    }

    fn allows_host(&self, host: &str) -> bool {
        let host = host.trim_end_matches('.').to_ascii_lowercase();
        self.hosts.contains(&host)
    }

    /// Whether a connection to `ip` may be made.
    pub fn allows_ip(&self, ip: IpAddr) -> bool {
        let ip = canonical(ip);
        !is_internal(ip) || self.networks.iter().any(|&(net, bits)| in_network(ip, net, bits))
    }

    /// Checks what can be checked of a URL before connecting: its scheme, and its host when that
    /// is an address (names are checked by the resolver, at connection time).
    pub fn check_url(&self, url: &url::Url) -> Result<(), String> {
        if !matches!(url.scheme(), "http" | "https") {
            return Err(format!("{} URLs are not called; use http:// or https://", url.scheme()));
        }
        let refused = |ip: IpAddr| Refused { host: ip.to_string(), address: Some(ip) }.to_string();
        match url.host() {
            Some(url::Host::Ipv4(ip)) if !self.allows_ip(ip.into()) => Err(refused(ip.into())),
            Some(url::Host::Ipv6(ip)) if !self.allows_ip(ip.into()) => Err(refused(canonical(ip.into()))),
            Some(url::Host::Domain(name)) if is_local_name(name) && !self.allows_host(name) => {
                Err(Refused { host: name.to_string(), address: None }.to_string())
            }
            Some(_) => Ok(()),
            None => Err("the URL has no host".into()),
        }
    }

    /// An HTTP client that calls only what this policy allows: guarded resolution, every
    /// redirect checked (three at most), no proxy from the environment.
    pub fn client(self: &Arc<Self>) -> reqwest::Client {
        let policy = self.clone();
        reqwest::Client::builder()
            .dns_resolver(Arc::new(Guarded(self.clone())))
            .redirect(reqwest::redirect::Policy::custom(move |attempt| {
                if attempt.previous().len() >= 3 {
                    return attempt.error("more than 3 redirects");
                }
                match policy.check_url(attempt.url()) {
                    Ok(()) => attempt.follow(),
                    Err(why) => attempt.error(format!("redirected to a refused address: {why}")),
                }
            }))
            .no_proxy()
            .connect_timeout(Duration::from_secs(5))
            .user_agent(concat!("switchboard/", env!("CARGO_PKG_VERSION")))
            .build()
            .expect("the HTTP client builds with static settings")
    }
}

/// The HTTP client for user-given URLs with the policy it enforces.
#[derive(Clone)]
pub struct Outbound {
    policy: Arc<Egress>,
    client: reqwest::Client,
}

impl Outbound {
    pub fn new(policy: Egress) -> Self {
        let policy = Arc::new(policy);
        Self { client: policy.client(), policy }
    }

    pub fn policy(&self) -> &Egress {
        &self.policy
    }

    /// A POST to `url`, once the URL itself passes the policy (its resolved addresses are
    /// checked when the request connects).
    pub fn post(&self, url: &str) -> anyhow::Result<reqwest::RequestBuilder> {
        let url = url::Url::parse(url).map_err(|e| anyhow::anyhow!("the URL is not valid: {e}"))?;
        self.policy.check_url(&url).map_err(anyhow::Error::msg)?;
        Ok(self.client.post(url))
    }
}

/// Resolves host names for [`Egress::client`], keeping only the addresses the policy allows.
struct Guarded(Arc<Egress>);

impl reqwest::dns::Resolve for Guarded {
    fn resolve(&self, name: reqwest::dns::Name) -> reqwest::dns::Resolving {
        let policy = self.0.clone();
        let host = name.as_str().to_string();
        Box::pin(async move {
            let addrs: Vec<SocketAddr> = tokio::net::lookup_host((host.as_str(), 0)).await?.collect();
            if policy.allows_host(&host) {
                return Ok(Box::new(addrs.into_iter()) as reqwest::dns::Addrs);
            }
            let (allowed, refused): (Vec<SocketAddr>, Vec<SocketAddr>) =
                addrs.into_iter().partition(|a| policy.allows_ip(a.ip()));
            if allowed.is_empty() {
                let address = refused.first().map(|a| canonical(a.ip()));
                return Err(Box::new(Refused { host, address }) as Box<dyn std::error::Error + Send + Sync>);
            }
            Ok(Box::new(allowed.into_iter()) as reqwest::dns::Addrs)
        })
    }
}

/// Names that mean this machine whatever DNS says.
fn is_local_name(name: &str) -> bool {
    let name = name.trim_end_matches('.').to_ascii_lowercase();
    name == "localhost" || name.ends_with(".localhost")
}

/// An IPv4 address written as IPv6 (`::ffff:127.0.0.1`, or NAT64's `64:ff9b::7f00:1`) as the IPv4
/// address it reaches.
fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => {
            if let Some(v4) = v6.to_ipv4_mapped() {
                return IpAddr::V4(v4);
            }
            let s = v6.segments();
            if s[..6] == [0x64, 0xff9b, 0, 0, 0, 0] {
                let [a, b] = s[6].to_be_bytes();
                let [c, d] = s[7].to_be_bytes();
                return IpAddr::V4(Ipv4Addr::new(a, b, c, d));
            }
            IpAddr::V6(v6)
        }
        v4 => v4,
    }
}

fn in_network(ip: IpAddr, net: IpAddr, bits: u8) -> bool {
    match (ip, net) {
        (IpAddr::V4(a), IpAddr::V4(n)) => {
            let mask = if bits == 0 { 0 } else { u32::MAX << (32 - u32::from(bits)) };
            u32::from(a) & mask == u32::from(n) & mask
        }
        (IpAddr::V6(a), IpAddr::V6(n)) => {
            let mask = if bits == 0 { 0 } else { u128::MAX << (128 - u32::from(bits)) };
            u128::from(a) & mask == u128::from(n) & mask
        }
        _ => false,
    }
}

/// Loopback, private, shared (CGNAT), link-local (cloud metadata at 169.254.169.254), unique
/// local, multicast, reserved and unspecified addresses: anything but the public internet.
fn is_internal(ip: IpAddr) -> bool {
    const V4: &[([u8; 4], u8)] = &[
        ([0, 0, 0, 0], 8),
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([127, 0, 0, 0], 8),
        ([169, 254, 0, 0], 16),
        ([172, 16, 0, 0], 12),
        ([192, 0, 0, 0], 24),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([224, 0, 0, 0], 4),
        ([240, 0, 0, 0], 4),
    ];
    const V6: &[(u128, u8)] = &[
        (0, 127),                                        // :: and ::1
        (0xfc00_0000_0000_0000_0000_0000_0000_0000, 7),  // unique local (fd00:ec2::254 among them)
        (0xfe80_0000_0000_0000_0000_0000_0000_0000, 10), // link-local
        (0xff00_0000_0000_0000_0000_0000_0000_0000, 8),  // multicast
        (0x2002_0000_0000_0000_0000_0000_0000_0000, 16), // 6to4: an IPv4 address inside
        (0x2001_0000_0000_0000_0000_0000_0000_0000, 32), // Teredo: likewise
    ];
    match canonical(ip) {
        IpAddr::V4(v4) => V4.iter().any(|&(net, bits)| in_network(IpAddr::V4(v4), IpAddr::V4(net.into()), bits)),
        IpAddr::V6(v6) => V6.iter().any(|&(net, bits)| in_network(IpAddr::V6(v6), IpAddr::V6(net.into()), bits)),
    }
}

/// Reads a response's body up to `limit` bytes; a longer one is an error, not a truncation.
pub async fn read_capped(mut response: reqwest::Response, limit: usize) -> anyhow::Result<Vec<u8>> {
    if response.content_length().is_some_and(|n| n > limit as u64) {
        anyhow::bail!("the answer is larger than {} kB", limit / 1024);
    }
    let mut body = Vec::new();
    while let Some(chunk) = response.chunk().await? {
        if body.len() + chunk.len() > limit {
            anyhow::bail!("the answer is larger than {} kB", limit / 1024);
        }
        body.extend_from_slice(&chunk);
    }
    Ok(body)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn url(s: &str) -> url::Url {
        url::Url::parse(s).unwrap()
    }

    #[test]
    fn internal_addresses_are_refused_in_every_spelling() {
        let none = Egress::default();
        for u in [
            "http://127.0.0.1:8080/x",
            "http://127.1/",
            "http://2130706433/",
            "http://0x7f.0.0.1/",
            "http://[::1]/",
            "http://[::ffff:127.0.0.1]/",
            "http://[::ffff:7f00:1]/",
            "http://[64:ff9b::a9fe:a9fe]/",
            "http://169.254.169.254/latest/meta-data/",
            "http://[fd00:ec2::254]/",
            "http://10.0.0.1/",
            "http://172.20.1.1/",
            "http://192.168.1.1/",
            "http://100.100.100.200/",
            "http://0.0.0.0/",
            "http://[fe80::1]/",
            "http://224.0.0.1/",
            "http://localhost:3900/",
            "http://api.localhost/",
            "ftp://example.com/",
            "file:///etc/passwd",
        ] {
            assert!(none.check_url(&url(u)).is_err(), "{u} must be refused");
        }
        for u in
            ["https://api.openai.com/v1", "http://93.184.215.14/", "http://[2606:4700::1111]/", "http://example.com/"]
        {
            assert_eq!(none.check_url(&url(u)), Ok(()), "{u}");
        }
    }

    #[test]
    fn the_operator_allows_hosts_and_networks() {
        let allowed = Egress::parse(" 127.0.0.1 , 10.1.0.0/16, llm.internal., [::1]").unwrap();
        assert!(allowed.check_url(&url("http://127.0.0.1:3900/_sim/hook")).is_ok());
        assert!(allowed.check_url(&url("http://[::ffff:127.0.0.1]/")).is_ok(), "the same address spelt as IPv6");
        assert!(allowed.check_url(&url("http://127.0.0.2/")).is_err(), "only the address named");
        assert!(allowed.check_url(&url("http://10.1.200.3/")).is_ok());
        assert!(allowed.check_url(&url("http://10.2.0.1/")).is_err());
        assert!(allowed.check_url(&url("http://[::1]/")).is_ok());
        assert!(allowed.allows_host("LLM.internal"));
        assert!(!allowed.allows_host("other.internal"));
        for bad in ["10.0.0.0/33", "not a host", "::1/129", "10.0.0.1/x"] {
            assert!(Egress::parse(bad).is_err(), "{bad}");
        }
    }

    #[tokio::test]
    async fn names_that_resolve_inside_are_refused_at_connection() {
        use reqwest::dns::Resolve;
        let guarded = Guarded(Arc::new(Egress::default()));
        let refused = guarded.resolve("localhost".parse().unwrap()).await.err().expect("localhost is refused");
        assert!(refused.to_string().contains("internal address"), "{refused}");
        let allowed = Guarded(Arc::new(Egress::parse("localhost").unwrap()));
        assert!(allowed.resolve("localhost".parse().unwrap()).await.is_ok());
    }
}
