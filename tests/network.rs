//! A node's bridges and ZeroTier networks through the API, on an emulated node in its own `sim` process: created
//! (or joined) on the node, refused with the field at fault, listed as the node reports them, deleted.

mod common;

use common::{admin_call as call, get_json, server_with_sim_node};
use reqwest::Method;
use serde_json::{Value, json};

#[test]
fn bridges_and_zerotier_networks_are_made_on_the_node_refused_when_wrong_and_removed() {
    let (sim, server) = server_with_sim_node(34);
    let node = sim.id.as_str();
    let post = |path: &str, body: Value| call(&server, Method::POST, path, Some(body));

    let bridges = format!("/nodes/{node}/bridges");
    let dnsmasq = |name: &str, cidr: &str| {
        json!({"name": name, "networkMode": "dnsmasq", "nat": true,
               "setting": {"cidr": cidr, "start": "10.20.0.10", "end": "10.20.0.99"}})
    };
    let (status, error) = post(&bridges, json!({"name": "default", "networkMode": "none"}));
    assert_eq!((status, error["field"].as_str()), (400, Some("name")));
    let (status, error) = post(&bridges, json!({"name": "br1", "networkMode": "static"}));
    assert_eq!((status, error["field"].as_str()), (400, Some("setting.cidr")));
    let (status, error) = post(&bridges, dnsmasq("br1", "10.30.0.1/24"));
    assert_eq!(
        (status, error["field"].as_str()),
        (400, Some("setting.start")),
        "{error}"
    );
    let (status, bridge) = post(&bridges, dnsmasq("br1", "10.20.0.1/24"));
    assert_eq!((status, bridge["status"].as_str()), (201, Some("up")), "{bridge}");
    let (status, error) = post(&bridges, dnsmasq("br2", "10.20.0.254/24"));
    assert_eq!((status, error["code"].as_str()), (409, Some("cidr_in_use")), "{error}");
    let (status, error) = post(&bridges, json!({"name": "br1", "networkMode": "none"}));
    assert_eq!((status, error["code"].as_str()), (409, Some("already_exists")));
    assert_eq!(get_json(&server, &bridges).as_array().unwrap().len(), 1);
    assert_eq!(call(&server, Method::DELETE, &format!("{bridges}/br1"), None).0, 204);
    assert_eq!(get_json(&server, &bridges), json!([]));
    let (status, _) = post(&bridges, dnsmasq("br1", "10.20.0.1/24"));
    assert_eq!(status, 201, "the node let go of br1, so it can be made again");

    let zerotiers = format!("/nodes/{node}/zerotiers");
    let (status, error) = post(&zerotiers, json!({"nwid": "not-a-network"}));
    assert_eq!((status, error["field"].as_str()), (400, Some("nwid")));
    let (status, joined) = post(&zerotiers, json!({"nwid": "8056C2E21C000001", "token": "secret-token"}));
    assert_eq!(status, 201, "{joined}");
    assert_eq!(
        (joined["nwid"].as_str(), joined["status"].as_str()),
        (Some("8056c2e21c000001"), Some("OK"))
    );
    assert!(
        joined["assignedAddresses"][0].is_string() && joined["mac"].is_string(),
        "{joined}"
    );
    assert!(!joined.to_string().contains("secret-token"), "the token is never shown");
    assert_eq!(
        get_json(&server, &format!("{zerotiers}/8056c2e21c000001"))["status"],
        "OK"
    );
    assert_eq!(get_json(&server, &zerotiers).as_array().unwrap().len(), 1);
    assert_eq!(
        call(&server, Method::DELETE, &format!("{zerotiers}/8056c2e21c000001"), None).0,
        204
    );
    assert_eq!(get_json(&server, &zerotiers), json!([]));
    assert_eq!(
        call(&server, Method::DELETE, &format!("{zerotiers}/8056c2e21c000001"), None).0,
        204
    );
}
