//! The GPU side of the effect chain: adapter choice, the shaders, their CPU
//! twins, and the engine that runs a frame through them. The filter
//! catalogue and the GPU choice are plain settings (`settings::filter`,
//! `settings::gpu`).

mod avatar;
pub mod background;
pub mod engine;
pub mod hash;
pub mod lut;
mod pipelines;
mod readback;
pub mod reference;
pub mod shaders;
mod uniforms;
mod wgpu_util;

use crate::settings::gpu::GpuPreference;

/// Why no GPU could be used.
#[derive(Debug, thiserror::Error)]
pub enum GpuError {
    #[error("no GPU adapter matches {wanted:?} (found: {found}). Without a GPU driver install Mesa's software one: `sudo apt-get install mesa-vulkan-drivers`")]
    NoAdapter {
        wanted: GpuPreference,
        found: String,
    },
    #[error("the GPU device could not be created on {adapter}: {reason}")]
    Device { adapter: String, reason: String },
    #[error("GPU work failed: {0}")]
    Failed(String),
}

/// A device and queue on the chosen adapter.
#[derive(Debug)]
pub struct GpuContext {
    pub device: wgpu::Device,
    pub queue: wgpu::Queue,
    pub info: wgpu::AdapterInfo,
    /// Set, with the driver's reason, once the device is lost (a driver
    /// reset, a GPU hang, `Device::destroy`): nothing made on it works again.
    lost: std::sync::Arc<std::sync::Mutex<Option<String>>>,
}

fn rank(info: &wgpu::AdapterInfo) -> (u8, u8) {
    let kind = match info.device_type {
        wgpu::DeviceType::DiscreteGpu => 0,
        wgpu::DeviceType::IntegratedGpu => 1,
        wgpu::DeviceType::VirtualGpu => 2,
        wgpu::DeviceType::Cpu => 3,
        wgpu::DeviceType::Other => 4,
    };
    let backend = if info.backend == wgpu::Backend::Vulkan {
        0
    } else {
        1
    };
    (kind, backend)
}

fn accepts(pref: GpuPreference, info: &wgpu::AdapterInfo) -> bool {
    match pref {
        GpuPreference::Auto => true,
        GpuPreference::Hardware => matches!(
            info.device_type,
            wgpu::DeviceType::DiscreteGpu
                | wgpu::DeviceType::IntegratedGpu
                | wgpu::DeviceType::VirtualGpu
        ),
        GpuPreference::Software => info.device_type == wgpu::DeviceType::Cpu,
        GpuPreference::Vulkan => info.backend == wgpu::Backend::Vulkan,
        GpuPreference::Gl => info.backend == wgpu::Backend::Gl,
    }
}

/// A short description: "llvmpipe (LLVM 15.0.6, 256 bits) (Cpu, Vulkan)".
pub fn describe(info: &wgpu::AdapterInfo) -> String {
    format!("{} ({:?}, {:?})", info.name, info.device_type, info.backend)
}

fn adapters() -> Vec<wgpu::Adapter> {
    let mut desc = wgpu::InstanceDescriptor::new_without_display_handle();
    desc.backends = wgpu::Backends::VULKAN | wgpu::Backends::GL;
    let instance = wgpu::Instance::new(desc);
    pollster::block_on(instance.enumerate_adapters(wgpu::Backends::VULKAN | wgpu::Backends::GL))
}

/// Every adapter found, best first, as `(description, hardware?)`; the first
/// one is what `auto` picks.
pub fn list_adapters() -> Vec<(String, bool)> {
    let mut infos: Vec<wgpu::AdapterInfo> = adapters().iter().map(|a| a.get_info()).collect();
    infos.sort_by_key(rank);
    infos
        .iter()
        .map(|i| {
            (
                describe(i),
                matches!(
                    i.device_type,
                    wgpu::DeviceType::DiscreteGpu | wgpu::DeviceType::IntegratedGpu
                ),
            )
        })
        .collect()
}

impl GpuContext {
    /// Opens the best adapter that `pref` allows.
    pub fn new(pref: GpuPreference) -> Result<Self, GpuError> {
        let adapters = adapters();
        let found: Vec<String> = adapters.iter().map(|a| describe(&a.get_info())).collect();
        let adapter = adapters
            .into_iter()
            .filter(|a| accepts(pref, &a.get_info()))
            .min_by_key(|a| rank(&a.get_info()))
            .ok_or_else(|| GpuError::NoAdapter {
                wanted: pref,
                found: if found.is_empty() {
                    "none".into()
                } else {
                    found.join("; ")
                },
            })?;
        let info = adapter.get_info();
        // Everything the adapter offers: frame buffers at 4K need more than the
        // portable defaults allow.
        let (device, queue) = pollster::block_on(adapter.request_device(&wgpu::DeviceDescriptor {
            label: Some("bytemeet"),
            required_limits: adapter.limits(),
            ..Default::default()
        }))
        .map_err(|e| GpuError::Device {
            adapter: describe(&info),
            reason: e.to_string(),
        })?;
        let lost: std::sync::Arc<std::sync::Mutex<Option<String>>> = Default::default();
        let on_lost = lost.clone();
        device.set_device_lost_callback(move |reason, message| {
            let why = match reason {
                wgpu::DeviceLostReason::Destroyed => format!("destroyed: {message}"),
                wgpu::DeviceLostReason::Unknown => message,
            };
            *on_lost.lock().unwrap_or_else(|p| p.into_inner()) = Some(why);
        });
        // wgpu panics on errors nobody catches; a driver problem must not take
        // the camera down, so log it instead (the frame then passes unfiltered).
        // Once the device is lost every call fails: the loss is said once by
        // whoever rebuilds the engine, not here for each call.
        let quiet = lost.clone();
        device.on_uncaptured_error(std::sync::Arc::new(move |e: wgpu::Error| {
            if quiet.lock().unwrap_or_else(|p| p.into_inner()).is_none() {
                tracing::error!("GPU error: {e}");
            }
        }));
        Ok(GpuContext {
            device,
            queue,
            info,
            lost,
        })
    }

    /// Why the device was lost, once it has been (see `lost`).
    pub fn lost(&self) -> Option<String> {
        self.lost.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// Loses the device on purpose, as a driver reset would: what the
    /// daemon's fault injection (`BYTEMEETD_INJECT=gpu-lost@N`) calls.
    pub fn destroy(&self) {
        self.device.destroy();
        // The loss is reported once the work still queued is done, on a poll.
        let _ = self.device.poll(wgpu::PollType::wait_indefinitely());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn info(device_type: wgpu::DeviceType, backend: wgpu::Backend) -> wgpu::AdapterInfo {
        wgpu::AdapterInfo::new(device_type, backend)
    }

    #[test]
    fn ranking_prefers_real_gpus_and_vulkan() {
        use wgpu::{Backend, DeviceType};
        let sw_vk = info(DeviceType::Cpu, Backend::Vulkan);
        let sw_gl = info(DeviceType::Cpu, Backend::Gl);
        let igpu = info(DeviceType::IntegratedGpu, Backend::Vulkan);
        let dgpu_gl = info(DeviceType::DiscreteGpu, Backend::Gl);
        let mut all = [&sw_gl, &igpu, &sw_vk, &dgpu_gl];
        all.sort_by_key(|i| rank(i));
        assert_eq!(
            all.map(|i| (i.device_type, i.backend)),
            [
                (DeviceType::DiscreteGpu, Backend::Gl),
                (DeviceType::IntegratedGpu, Backend::Vulkan),
                (DeviceType::Cpu, Backend::Vulkan),
                (DeviceType::Cpu, Backend::Gl),
            ]
        );
        assert!(!accepts(GpuPreference::Hardware, &sw_vk));
        assert!(accepts(GpuPreference::Software, &sw_gl));
        assert!(accepts(GpuPreference::Gl, &dgpu_gl) && !accepts(GpuPreference::Vulkan, &dgpu_gl));
        assert_eq!("sw".parse(), Ok(GpuPreference::Software));
        assert!("cuda".parse::<GpuPreference>().is_err());
    }
}
