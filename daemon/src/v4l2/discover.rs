//! Finding cameras and virtual cameras: list `/dev/video*`, ask each what it is
//! (`VIDIOC_QUERYCAP`), and rank them. The ranking is pure and tested on its own.

use std::path::{Path, PathBuf};

use v4l::capability::Flags;

use super::{BYTEMEET_CARD_LABEL, LOOPBACK_DRIVER};

/// What one video node says about itself.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeviceInfo {
    pub path: PathBuf,
    pub driver: String,
    pub card: String,
    pub bus: String,
    /// Offers VIDEO_CAPTURE right now.
    pub capture: bool,
    /// Offers VIDEO_OUTPUT right now.
    pub output: bool,
}

impl DeviceInfo {
    pub fn is_loopback(&self) -> bool {
        self.driver == LOOPBACK_DRIVER
    }
}

/// `/dev/videoN` nodes in number order.
pub fn video_nodes() -> Vec<PathBuf> {
    let mut nodes: Vec<(u32, PathBuf)> = std::fs::read_dir("/dev")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|e| {
            let name = e.file_name();
            let n = name.to_str()?.strip_prefix("video")?.parse().ok()?;
            Some((n, e.path()))
        })
        .collect();
    nodes.sort();
    nodes.into_iter().map(|(_, p)| p).collect()
}

/// Queries one node. Opening a node and asking its capabilities does not start
/// streaming (no camera light).
pub fn query(path: &Path) -> std::io::Result<DeviceInfo> {
    let dev = v4l::Device::with_path(path)?;
    let caps = dev.query_caps()?;
    Ok(DeviceInfo {
        path: path.to_path_buf(),
        driver: caps.driver,
        card: caps.card,
        bus: caps.bus,
        capture: caps.capabilities.contains(Flags::VIDEO_CAPTURE),
        output: caps.capabilities.contains(Flags::VIDEO_OUTPUT),
    })
}

/// Every node that answers `QUERYCAP`.
pub fn list() -> Vec<DeviceInfo> {
    video_nodes().iter().filter_map(|p| query(p).ok()).collect()
}

/// The first real camera: a capture node that is not a virtual camera.
pub fn pick_camera(devices: &[DeviceInfo]) -> Option<&DeviceInfo> {
    devices.iter().find(|d| d.capture && !d.is_loopback())
}

/// Loopback devices in the order `auto` should try them: ByteMeet's own label
/// first; devices that already expose only CAPTURE (another producer is attached,
/// with `exclusive_caps=1`) are left out.
pub fn rank_loopbacks(devices: &[DeviceInfo]) -> Vec<&DeviceInfo> {
    let mut v: Vec<&DeviceInfo> = devices
        .iter()
        .filter(|d| d.is_loopback() && d.output)
        .collect();
    v.sort_by_key(|d| d.card != BYTEMEET_CARD_LABEL);
    v
}

/// Path of the first real camera, if any.
pub fn first_camera() -> Option<PathBuf> {
    pick_camera(&list()).map(|d| d.path.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn dev(n: u32, driver: &str, card: &str, capture: bool, output: bool) -> DeviceInfo {
        DeviceInfo {
            path: PathBuf::from(format!("/dev/video{n}")),
            driver: driver.into(),
            card: card.into(),
            bus: String::new(),
            capture,
            output,
        }
    }

    #[test]
    fn camera_skips_loopbacks_and_metadata_nodes() {
        let devices = vec![
            dev(0, LOOPBACK_DRIVER, "OBS Virtual Camera", true, false),
            dev(1, "uvcvideo", "HD Webcam: metadata", false, false),
            dev(2, "uvcvideo", "HD Webcam", true, false),
        ];
        assert_eq!(
            pick_camera(&devices).map(|d| d.path.clone()),
            Some("/dev/video2".into())
        );
        assert_eq!(pick_camera(&devices[..2]), None);
    }

    #[test]
    fn loopbacks_prefer_our_label_and_skip_taken_ones() {
        let devices = vec![
            dev(0, "uvcvideo", "HD Webcam", true, false),
            dev(
                9,
                LOOPBACK_DRIVER,
                "Dummy video device (0x0000)",
                false,
                true,
            ),
            dev(10, LOOPBACK_DRIVER, BYTEMEET_CARD_LABEL, false, true),
            dev(11, LOOPBACK_DRIVER, "OBS Virtual Camera", true, false),
        ];
        let ranked: Vec<_> = rank_loopbacks(&devices)
            .iter()
            .map(|d| d.path.clone())
            .collect();
        assert_eq!(
            ranked,
            vec![PathBuf::from("/dev/video10"), PathBuf::from("/dev/video9")]
        );
    }

    #[test]
    fn nodes_are_listed_in_number_order() {
        let nodes = video_nodes();
        let nums: Vec<u32> = nodes
            .iter()
            .filter_map(|p| p.file_name()?.to_str()?.strip_prefix("video")?.parse().ok())
            .collect();
        let mut sorted = nums.clone();
        sorted.sort();
        assert_eq!(nums, sorted);
    }
}
