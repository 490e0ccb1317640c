//! Storage through the API on an emulated node in its own `sim` process: pools on its disks with RAID profiles,
//! filesystems with quotas, snapshots and rollback; every refusal (bad profile, unknown or busy device, no room,
//! a parent still holding children) is a clear error that leaves nothing behind.

mod common;

use common::{admin_call as call, get_json, server_with_sim_node};
use reqwest::Method;
use serde_json::{Value, json};

#[test]
fn pools_filesystems_and_snapshots_are_created_refused_rolled_back_and_deleted() {
    let (sim, server) = server_with_sim_node(33);
    let node = sim.id.as_str();
    let disks = get_json(&server, &format!("/nodes/{node}/disks"));
    let devices = common::device_paths(&disks);
    assert!(devices.len() >= 2, "{disks}");
    let pools = format!("/nodes/{node}/storagepools");
    let post = |path: &str, body: Value| call(&server, Method::POST, path, Some(body));
    let pool = |name: &str, profile: &str, devices: &[&String]| json!({"name": name, "dataProfile": profile, "metadataProfile": profile, "devices": devices});

    // Refused at the edge, or by the node: the reason, the field, and nothing left behind.
    let (status, error) = post(&pools, pool("data", "raid1", &[&devices[0]]));
    assert_eq!((status, error["field"].as_str()), (400, Some("dataProfile")), "{error}");
    let (status, error) = post(&pools, pool("data", "raid7", &[&devices[0]]));
    assert_eq!((status, error["field"].as_str()), (400, Some("dataProfile")), "{error}");
    let missing = "/dev/sdz".to_owned();
    let (status, error) = post(&pools, pool("data", "single", &[&missing]));
    assert_eq!(
        (status, error["code"].as_str(), error["field"].as_str()),
        (400, Some("unknown_device"), Some("devices")),
        "{error}"
    );
    assert_eq!(get_json(&server, &pools), json!([]));

    let (status, created) = post(&pools, pool("data", "raid1", &[&devices[0], &devices[1]]));
    assert_eq!(status, 201, "{created}");
    assert_eq!(
        (created["status"].as_str(), created["mountpoint"].as_str()),
        (Some("healthy"), Some("/storage/data"))
    );
    assert!(created["totalCapacity"].as_f64().unwrap() > 100.0, "{created}");
    let (status, error) = post(&pools, pool("data", "single", &[&devices[0]]));
    assert_eq!(
        (status, error["code"].as_str()),
        (409, Some("device_in_use")),
        "{error}"
    );
    let (status, error) = post(&pools, pool("data", "single", &[devices.last().unwrap()]));
    assert_eq!(
        (status, error["code"].as_str()),
        (409, Some("already_exists")),
        "{error}"
    );
    let mounts = get_json(&server, &format!("/nodes/{node}/mounts"));
    assert!(
        mounts
            .as_array()
            .unwrap()
            .iter()
            .any(|m| m["mountpoint"] == "/storage/data" && m["fstype"] == "btrfs"),
        "{mounts}"
    );
    let pool_devices = get_json(&server, &format!("{pools}/data/devices"));
    assert_eq!(pool_devices.as_array().unwrap().len(), 2, "{pool_devices}");
    assert_eq!(pool_devices[0]["deviceName"], devices[0].as_str());

    // Devices: a third one added, then one of the first two removed (raid1 keeps its two devices).
    let spare = devices.get(2).expect("this node has a third disk").clone();
    {
        // (a block, so `listed` and `uuid` end here)
        let (status, listed) = post(&format!("{pools}/data/devices"), json!([spare]));
        assert_eq!((status, listed.as_array().map(Vec::len)), (201, Some(3)), "{listed}");
        let uuid = listed[0]["uuid"].as_str().unwrap().to_owned();
        assert_eq!(
            get_json(&server, &format!("{pools}/data/devices/{uuid}"))["deviceName"],
            devices[0].as_str()
        );
        assert_eq!(
            call(&server, Method::DELETE, &format!("{pools}/data/devices/{uuid}"), None).0,
            204
        );
        let left = get_json(&server, &format!("{pools}/data/devices"));
        assert_eq!(left.as_array().unwrap().len(), 2, "{left}");
        let (status, error) = call(
            &server,
            Method::DELETE,
            &format!("{pools}/data/devices/{}", left[0]["uuid"].as_str().unwrap()),
            None,
        );
        assert_eq!(
            (status, error["field"].as_str()),
            (400, Some("dataProfile")),
            "raid1 needs two devices: {error}"
        );
    }
    let filesystems = format!("{pools}/data/filesystems");
    let (status, error) = post(&filesystems, json!({"name": "App"}));
    assert_eq!((status, error["field"].as_str()), (400, Some("name")));
    assert_eq!(
        post(&format!("{pools}/nope/filesystems"), json!({"name": "app"})).0,
        404
    );
    let (status, fs) = post(&filesystems, json!({"name": "app", "quota": 1024}));
    assert_eq!(
        (status, fs["mountpoint"].as_str()),
        (201, Some("/storage/data/filesystems/app")),
        "{fs}"
    );
    let (status, error) = post(&filesystems, json!({"name": "huge", "quota": 1u64 << 30}));
    assert_eq!(
        (status, error["code"].as_str(), error["field"].as_str()),
        (507, Some("no_space"), Some("quota")),
        "{error}"
    );
    assert_eq!(
        get_json(&server, &filesystems),
        json!(["app"]),
        "the refused filesystem left nothing"
    );

    // A container mounts filesystems that exist, and only those.
    let containers = format!("/nodes/{node}/containers");
    let flist = "https://hub.grid.tf/tf-official-apps/alpine-3.8.flist";
    let (status, error) = post(
        &containers,
        json!({"name": "c", "flist": flist, "filesystems": ["data:nope"]}),
    );
    assert_eq!(
        (status, error["code"].as_str(), error["field"].as_str()),
        (400, Some("unknown_filesystem"), Some("filesystems[0]"))
    );
    let (status, container) = post(
        &containers,
        json!({"name": "c", "flist": flist, "filesystems": ["data:app"]}),
    );
    assert_eq!(
        (status, container["status"].as_str()),
        (201, Some("running")),
        "{container}"
    );
    assert_eq!(call(&server, Method::DELETE, &format!("{containers}/c"), None).0, 204);

    let snapshots = format!("{filesystems}/app/snapshots");
    let (status, snapshot) = post(&snapshots, json!({"name": "before_upgrade.rc"}));
    assert_eq!(status, 201, "{snapshot}");
    assert_eq!(get_json(&server, &snapshots), json!(["before_upgrade.rc"]));
    assert_eq!(
        post(&format!("{snapshots}/before_upgrade.rc/rollback"), json!({})).0,
        204
    );
    assert_eq!(post(&format!("{snapshots}/nope/rollback"), json!({})).0, 404);

    // Parents holding children are not deleted; children first, then the pool, whose devices are free again.
    let delete = |path: &str| call(&server, Method::DELETE, path, None);
    let (status, error) = delete(&format!("{filesystems}/app"));
    assert_eq!((status, error["code"].as_str()), (409, Some("filesystem_not_empty")));
    let (status, error) = delete(&format!("{pools}/data"));
    assert_eq!((status, error["code"].as_str()), (409, Some("pool_not_empty")));
    assert_eq!(delete(&format!("{snapshots}/before_upgrade.rc")).0, 204);
    assert_eq!(delete(&format!("{filesystems}/app")).0, 204);
    assert_eq!(delete(&format!("{pools}/data")).0, 204);
    assert_eq!(call(&server, Method::GET, &format!("{pools}/data"), None).0, 404);
    assert_eq!(delete(&format!("{pools}/data")).0, 204, "deletes are idempotent");
    let (status, again) = post(&pools, pool("again", "single", &[&devices[0]]));
    assert_eq!(status, 201, "the node released the devices: {again}");
}
