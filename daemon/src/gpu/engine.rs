//! Runs one frame through the GPU: upload the camera bytes as they are,
//! filter them into an RGBA texture when a filter is on (filter.wgsl), put a
//! background behind the person (background.wgsl), pack to the output format
//! (pack.wgsl), read back through a ring of mapped buffers. Every pass that
//! reads the camera picture decodes the camera's bytes where they lie
//! (decode.wgsl): there is no separate unpacking pass. Pipelines are built
//! once; per-size resources are kept until the size changes, so switching
//! effects rebuilds nothing.

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::mpsc;
use std::time::Instant;

use super::avatar::{AvatarBox, AvatarGpu};
use super::background::{blur_plan, BlurPlan, FEATHER, GUIDE_RADIUS, MASK_KEEP_NEW};
use super::lut::Lut3d;
use super::wgpu_util::{
    dispatch, entry, layout_entry, sampled, storage, texture, uniform, upload, words, SAMPLER,
    STORAGE_READ, UNIFORM,
};
use super::{shaders, GpuContext, GpuError};
use crate::avatar::{pack::Mode, Drawing};
use crate::frame::{Frame, PixelFormat, Size};
use crate::settings::filter::{self as filters, FilterSpec};

const WG: u32 = 16;
/// Readback buffers in the ring: one being written by the GPU, one being read
/// by the CPU, one spare.
pub const RING: usize = 3;

/// What goes behind the person this frame.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Backdrop {
    /// No background effect: the camera picture as it is.
    None,
    /// The room blurred, `strength` as in `BackgroundSpec::Blur`.
    Blur { strength: f32 },
    /// The picture last given to `set_picture` (a scene, image or clip frame).
    Picture,
}

/// One frame's effects, as the engine applies them.
#[derive(Debug, Clone, Copy)]
pub struct Look<'a> {
    pub filter: Option<&'a FilterSpec>,
    pub backdrop: Backdrop,
    /// An avatar drawn over the result (a full one replaces the person).
    pub avatar: Option<&'a Drawing>,
}

impl Look<'_> {
    pub const PLAIN: Look<'static> = Look {
        filter: None,
        backdrop: Backdrop::None,
        avatar: None,
    };
}

/// Output format code, backdrop code, a full avatar (the person replaced),
/// the avatar pass (over the avatar's box only), where the picture comes
/// from (`Source`).
type PackKey = (u32, u32, u32, u32, u32);

/// Where the passes after the filter read the camera picture: 0 = the
/// filtered texture, else the frame's own bytes in format `source`
/// (decode.wgsl's `in_format`).
type Source = u32;

/// A frame on its way back from the GPU.
#[derive(Debug)]
struct InFlight {
    slot: usize,
    len: u64,
    size: Size,
    packed: PixelFormat,
    out: PixelFormat,
    seq: u64,
    captured_at: Instant,
    mapped: mpsc::Receiver<Result<(), wgpu::BufferAsyncError>>,
}

/// Resources that depend on the frame size.
#[derive(Debug)]
struct FrameResources {
    size: Size,
    in_buf: wgpu::Buffer,
    /// Bytes of each frame buffer: an RGBA frame, the largest any format needs.
    buf_len: u64,
    out_buf: wgpu::Buffer,
    /// The readback ring.
    readback: [wgpu::Buffer; RING],
    filter_bg: wgpu::BindGroup,
    /// The filtered picture.
    filtered: wgpu::TextureView,
    picture: wgpu::Texture,
    picture_view: wgpu::TextureView,
}

/// The person mask on the GPU: the newest mask as sent, and two smoothed
/// masks used in turn (one is read as the previous while the other is written).
#[derive(Debug)]
struct MaskTextures {
    width: u32,
    height: u32,
    fresh: wgpu::Texture,
    fresh_view: wgpu::TextureView,
    smoothed: [wgpu::TextureView; 2],
    /// Guided filter: window statistics, coefficients, their means.
    guide: [wgpu::TextureView; 3],
}

/// Bind groups of the background passes and of packing for one (frame size,
/// mask size, blur factor); rebuilt when any of them changes.
#[derive(Debug)]
struct Binds {
    key: (Size, (u32, u32), u32),
    low: Size,
    /// [smoothed mask i] (a blank stand-in without a mask).
    pack: [wgpu::BindGroup; 2],
    /// Reading the guided filter's coefficients.
    pack_guided: wgpu::BindGroup,
    background: Option<BackgroundPasses>,
}

#[derive(Debug)]
struct BackgroundPasses {
    /// Writes smoothed[i] from the fresh mask and smoothed[1 - i].
    smooth: [wgpu::BindGroup; 2],
    /// [smoothed mask i]
    down: [wgpu::BindGroup; 2],
    blur_h: wgpu::BindGroup,
    blur_v: wgpu::BindGroup,
    /// [smoothed mask i]
    guide_stats: [wgpu::BindGroup; 2],
    guide_coeffs: wgpu::BindGroup,
    guide_mean: wgpu::BindGroup,
}

#[derive(Debug)]
struct BackgroundPipelines {
    layout: wgpu::BindGroupLayout,
    pipeline_layout: wgpu::PipelineLayout,
    module: wgpu::ShaderModule,
    smooth: wgpu::ComputePipeline,
    /// The passes that read the picture, by `Source`, built on first use.
    down: HashMap<Source, wgpu::ComputePipeline>,
    guide_stats: HashMap<Source, wgpu::ComputePipeline>,
    blur_h: wgpu::ComputePipeline,
    blur_v: wgpu::ComputePipeline,
    guide_coeffs: wgpu::ComputePipeline,
    guide_mean: wgpu::ComputePipeline,
}

/// The loaded LUT texture and which file it came from.
#[derive(Debug)]
struct LoadedLut {
    path: Option<PathBuf>,
    size: usize,
    view: wgpu::TextureView,
}

/// The effect engine on one GPU.
#[derive(Debug)]
pub struct GpuEngine {
    ctx: GpuContext,
    /// One pipeline per (filter, input format), specialised through the
    /// `kind` and `in_format` overrides, built on first use and kept.
    filters: HashMap<(u32, u32), wgpu::ComputePipeline>,
    filter_module: wgpu::ShaderModule,
    filter_layout: wgpu::BindGroupLayout,
    filter_pipeline_layout: wgpu::PipelineLayout,
    pack_module: wgpu::ShaderModule,
    pack_layout: wgpu::BindGroupLayout,
    pack_pipeline_layout: wgpu::PipelineLayout,
    /// Pack pipelines by (output format code, backdrop code, full avatar,
    /// avatar pass, source), built on first use.
    packs: HashMap<PackKey, wgpu::ComputePipeline>,
    avatar: AvatarGpu,
    comp_params: wgpu::Buffer,
    /// A 1x1 stand-in bound where no mask or blur texture exists yet.
    blank: wgpu::TextureView,
    filter_params: wgpu::Buffer,
    pack_params: wgpu::Buffer,
    sampler: wgpu::Sampler,
    lut: LoadedLut,
    sized: Option<FrameResources>,
    bg: BackgroundPipelines,
    bg_params: wgpu::Buffer,
    mask: Option<MaskTextures>,
    /// Which smoothed mask is current; None until the first mask arrives.
    mask_current: Option<usize>,
    /// A fresh mask was uploaded and is smoothed on the next frame.
    mask_pending: bool,
    binds: Option<Binds>,
    /// Low-res textures of the blur, for (size, factor).
    low: Option<(Size, u32, [wgpu::TextureView; 2])>,
    in_flight: VecDeque<InFlight>,
    next_slot: usize,
}

/// One shader file, includes resolved, compiled once however many entry points use it.
fn module(device: &wgpu::Device, file: &str) -> Result<wgpu::ShaderModule, GpuError> {
    let src = shaders::source(file).map_err(|e| GpuError::Failed(e.to_string()))?;
    Ok(device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(file),
        source: wgpu::ShaderSource::Wgsl(src.into()),
    }))
}

fn lut_texture(ctx: &GpuContext, lut: &Lut3d) -> wgpu::TextureView {
    let n = lut.size as u32;
    let tex = ctx.device.create_texture(&wgpu::TextureDescriptor {
        label: Some("lut"),
        size: wgpu::Extent3d {
            width: n,
            height: n,
            depth_or_array_layers: n,
        },
        mip_level_count: 1,
        sample_count: 1,
        dimension: wgpu::TextureDimension::D3,
        format: wgpu::TextureFormat::Rgba8Unorm,
        usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
        view_formats: &[],
    });
    upload(&ctx.queue, &tex, &lut.rgba8(), (n, n, n), 4);
    tex.create_view(&Default::default())
}

/// decode.wgsl's `in_format` code of the camera's bytes (never 0).
fn in_format(f: PixelFormat) -> u32 {
    match f {
        PixelFormat::Rgba => 1,
        PixelFormat::Yuyv => 2,
        PixelFormat::Nv12 => 3,
        PixelFormat::I420 => 4,
    }
}

/// Whether pack.wgsl writes `f` at `size` directly (else RGBA, converted on the CPU).
fn packs_on_gpu(f: PixelFormat, size: Size) -> bool {
    match f {
        PixelFormat::Rgba | PixelFormat::Yuyv => true,
        PixelFormat::Nv12 => size.width.is_multiple_of(4),
        PixelFormat::I420 => false,
    }
}

fn explicit_pipeline(
    device: &wgpu::Device,
    layout: &wgpu::PipelineLayout,
    module: &wgpu::ShaderModule,
    entry: &str,
    constants: &[(&str, f64)],
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: Some(layout),
        module,
        entry_point: Some(entry),
        compilation_options: wgpu::PipelineCompilationOptions {
            constants,
            ..Default::default()
        },
        cache: None,
    })
}

impl BackgroundPipelines {
    fn new(d: &wgpu::Device) -> Result<Self, GpuError> {
        use wgpu::TextureFormat as F;
        use wgpu::TextureViewDimension::D2;
        let layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("background"),
            entries: &[
                layout_entry(0, UNIFORM),
                layout_entry(1, sampled(D2)),
                layout_entry(2, sampled(D2)),
                layout_entry(3, sampled(D2)),
                layout_entry(4, sampled(D2)),
                layout_entry(6, SAMPLER),
                layout_entry(7, storage(F::Rgba16Float)),
                layout_entry(8, STORAGE_READ),
            ],
        });
        let pl = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("background"),
            bind_group_layouts: &[Some(&layout)],
            immediate_size: 0,
        });
        let m = module(d, "background.wgsl")?;
        Ok(BackgroundPipelines {
            smooth: explicit_pipeline(d, &pl, &m, "mask_smooth", &[]),
            down: HashMap::new(),
            blur_h: explicit_pipeline(d, &pl, &m, "blur_h", &[]),
            blur_v: explicit_pipeline(d, &pl, &m, "blur_v", &[]),
            guide_stats: HashMap::new(),
            guide_coeffs: explicit_pipeline(d, &pl, &m, "guide_coeffs", &[]),
            guide_mean: explicit_pipeline(d, &pl, &m, "guide_mean", &[]),
            layout,
            pipeline_layout: pl,
            module: m,
        })
    }

    /// Builds the picture-reading passes for `source` if they are missing.
    fn ensure_source(&mut self, d: &wgpu::Device, source: Source) {
        let constants = [("in_format", source as f64)];
        for (entry, map) in [
            ("bg_down", &mut self.down),
            ("guide_stats", &mut self.guide_stats),
        ] {
            map.entry(source).or_insert_with(|| {
                explicit_pipeline(d, &self.pipeline_layout, &self.module, entry, &constants)
            });
        }
    }
}

impl GpuEngine {
    pub fn new(ctx: GpuContext) -> Result<Self, GpuError> {
        let d = &ctx.device;
        let filter_module = module(d, "filter.wgsl")?;
        use wgpu::TextureViewDimension as Dim;
        let filter_layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("filter"),
            entries: &[
                layout_entry(0, UNIFORM),
                layout_entry(2, storage(wgpu::TextureFormat::Rgba8Unorm)),
                layout_entry(3, sampled(Dim::D3)),
                layout_entry(4, SAMPLER),
                layout_entry(5, STORAGE_READ),
            ],
        });
        let filter_pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("filter"),
            bind_group_layouts: &[Some(&filter_layout)],
            immediate_size: 0,
        });
        let pack_module = module(d, "pack.wgsl")?;
        let pack_layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("pack"),
            entries: &[
                layout_entry(0, UNIFORM),
                layout_entry(1, sampled(Dim::D2)),
                layout_entry(
                    2,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Storage { read_only: false },
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                layout_entry(3, UNIFORM),
                layout_entry(4, sampled(Dim::D2)),
                layout_entry(5, sampled(Dim::D2)),
                layout_entry(6, sampled(Dim::D2)),
                layout_entry(7, SAMPLER),
                layout_entry(8, STORAGE_READ),
            ],
        });
        let avatar = AvatarGpu::new(d)?;
        let pack_pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("pack"),
            bind_group_layouts: &[Some(&pack_layout), Some(&avatar.pack_layout)],
            immediate_size: 0,
        });
        let blank = texture(
            d,
            "blank",
            1,
            1,
            wgpu::TextureFormat::Rgba16Float,
            wgpu::TextureUsages::TEXTURE_BINDING,
        )
        .create_view(&Default::default());
        let bg = BackgroundPipelines::new(d)?;
        let sampler = d.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("linear"),
            mag_filter: wgpu::FilterMode::Linear,
            min_filter: wgpu::FilterMode::Linear,
            ..Default::default()
        });
        let lut = LoadedLut {
            path: None,
            size: 2,
            view: lut_texture(&ctx, &Lut3d::identity(2)),
        };
        Ok(GpuEngine {
            filter_params: uniform(d, "filter params", 32),
            pack_params: uniform(d, "pack params", 16),
            bg_params: uniform(d, "background params", 208),
            comp_params: {
                // The feather is a constant: written once.
                let b = uniform(d, "composite params", 16);
                let mut comp = FEATHER.to_le_bytes().to_vec();
                comp.resize(16, 0);
                ctx.queue.write_buffer(&b, 0, &comp);
                b
            },
            ctx,
            filters: HashMap::new(),
            filter_module,
            filter_layout,
            filter_pipeline_layout,
            pack_module,
            pack_layout,
            pack_pipeline_layout,
            packs: HashMap::new(),
            avatar,
            blank,
            sampler,
            lut,
            sized: None,
            bg,
            mask: None,
            mask_current: None,
            mask_pending: false,
            binds: None,
            low: None,
            in_flight: VecDeque::new(),
            next_slot: 0,
        })
    }

    pub fn adapter(&self) -> String {
        super::describe(&self.ctx.info)
    }

    fn ensure_size(&mut self, size: Size) {
        if self.sized.as_ref().is_some_and(|s| s.size == size) {
            return;
        }
        // Frames still in flight were read from the old buffers: let them land first.
        self.drain();
        let d = &self.ctx.device;
        let buf_len =
            (PixelFormat::Rgba.frame_len(size.width, size.height) as u64).next_multiple_of(4);
        let buf = |label: &str, len: u64, usage: wgpu::BufferUsages| {
            d.create_buffer(&wgpu::BufferDescriptor {
                label: Some(label),
                size: len,
                usage,
                mapped_at_creation: false,
            })
        };
        use wgpu::BufferUsages as U;
        use wgpu::TextureUsages as T;
        let in_buf = buf("frame in", buf_len, U::STORAGE | U::COPY_DST);
        let out_buf = buf("frame out", buf_len, U::STORAGE | U::COPY_SRC);
        let readback = [0, 1, 2].map(|_| buf("readback", buf_len, U::MAP_READ | U::COPY_DST));
        let (w, h) = (size.width, size.height);
        let rgba = wgpu::TextureFormat::Rgba8Unorm;
        let filtered = texture(
            d,
            "filtered",
            w,
            h,
            rgba,
            T::TEXTURE_BINDING | T::STORAGE_BINDING,
        )
        .create_view(&Default::default());
        let picture = texture(d, "picture", w, h, rgba, T::TEXTURE_BINDING | T::COPY_DST);
        let picture_view = picture.create_view(&Default::default());
        let filter_bg = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("filter"),
            layout: &self.filter_layout,
            entries: &[
                entry(0, self.filter_params.as_entire_binding()),
                entry(2, wgpu::BindingResource::TextureView(&filtered)),
                entry(3, wgpu::BindingResource::TextureView(&self.lut.view)),
                entry(4, wgpu::BindingResource::Sampler(&self.sampler)),
                entry(5, in_buf.as_entire_binding()),
            ],
        });
        self.binds = None;
        self.sized = Some(FrameResources {
            size,
            in_buf,
            buf_len,
            out_buf,
            readback,
            filter_bg,
            filtered,
            picture,
            picture_view,
        });
    }

    /// Compiles pipelines now, so that switching effects later never waits
    /// for the shader compiler. For warm-ups off the frame path. `filtered`:
    /// every filter for frames in these formats, and the later passes that
    /// read a filtered picture; `direct`: the passes that read frames in these
    /// formats without a filter. Each filter is then run once on a small
    /// frame. Returns early once `stop` is set (checked before each pipeline
    /// and each run).
    pub fn precompile(
        &mut self,
        filtered: &[PixelFormat],
        direct: &[PixelFormat],
        stop: &std::sync::atomic::AtomicBool,
    ) {
        let stopped = || stop.load(std::sync::atomic::Ordering::Relaxed);
        for &f in filtered {
            for filter in crate::settings::filter::FILTERS {
                if stopped() {
                    return;
                }
                self.filter_pipeline(filter.id, in_format(f));
            }
        }
        let texture = (!filtered.is_empty()).then_some(0);
        let sources: Vec<Source> = texture
            .into_iter()
            .chain(direct.iter().map(|&f| in_format(f)))
            .collect();
        for &source in &sources {
            self.bg.ensure_source(&self.ctx.device, source);
            for format in 0..3 {
                for pass in 0..2 {
                    if stopped() {
                        return;
                    }
                    for backdrop in 0..3 {
                        self.pack_pipeline((format, backdrop, 0, pass, source));
                    }
                    // A full avatar always stands in front of a picture.
                    self.pack_pipeline((format, 2, 1, pass, source));
                }
            }
        }
        // Software drivers (lavapipe) make a pipeline's machine code at its
        // first dispatch, not when it is created: run every filter once on a
        // small frame, and the pass after it once per output format, so the
        // first frame a user filters does not wait for that either.
        let size = Size::new(16, 16);
        for &f in filtered {
            let frame = Frame::new(size, f, vec![128; f.frame_len(size.width, size.height)], 0);
            let outs = [PixelFormat::Rgba, PixelFormat::Yuyv, PixelFormat::Nv12];
            for (i, filter) in crate::settings::filter::FILTERS.iter().enumerate() {
                if stopped() {
                    return;
                }
                let spec = FilterSpec {
                    name: filter.name.to_string(),
                    params: Default::default(),
                    lut: None,
                };
                let look = Look {
                    filter: Some(&spec),
                    ..Look::PLAIN
                };
                if let Err(e) = self.process(&frame, look, 0, outs[i % outs.len()]) {
                    tracing::debug!("warm-up run of {}: {e}", filter.name);
                }
            }
        }
    }

    /// The pipeline of filter `id` for frames in decode.wgsl's input format
    /// `code`, compiled on first use.
    fn filter_pipeline(&mut self, id: u32, code: u32) {
        if self.filters.contains_key(&(id, code)) {
            return;
        }
        let p = explicit_pipeline(
            &self.ctx.device,
            &self.filter_pipeline_layout,
            &self.filter_module,
            "main",
            &[("kind", id as f64), ("in_format", code as f64)],
        );
        self.filters.insert((id, code), p);
    }

    /// Loads the LUT file a spec names, once per file.
    fn ensure_lut(&mut self, spec: &FilterSpec) -> Result<(), GpuError> {
        let Some(path) = &spec.lut else { return Ok(()) };
        if self.lut.path.as_ref() == Some(path) {
            return Ok(());
        }
        let lut = Lut3d::load(path).map_err(|e| GpuError::Failed(e.to_string()))?;
        self.lut = LoadedLut {
            path: Some(path.clone()),
            size: lut.size,
            view: lut_texture(&self.ctx, &lut),
        };
        self.drain();
        self.sized = None; // the filter bind group holds the LUT view
        Ok(())
    }

    /// Hands the GPU a new person mask (8-bit, 0 = background, 255 = person),
    /// of any size; it is smoothed into the running mask with the next frame.
    pub fn set_mask(&mut self, mask: &[u8], width: u32, height: u32) -> Result<(), GpuError> {
        if width == 0 || height == 0 || mask.len() != (width * height) as usize {
            return Err(GpuError::Failed(format!(
                "a {width}x{height} mask needs {} bytes, got {}",
                width as u64 * height as u64,
                mask.len()
            )));
        }
        if self
            .mask
            .as_ref()
            .is_none_or(|m| (m.width, m.height) != (width, height))
        {
            use wgpu::TextureUsages as T;
            let d = &self.ctx.device;
            let fresh = texture(
                d,
                "mask",
                width,
                height,
                wgpu::TextureFormat::R8Unorm,
                T::TEXTURE_BINDING | T::COPY_DST,
            );
            let half = |label: &str| {
                texture(
                    d,
                    label,
                    width,
                    height,
                    wgpu::TextureFormat::Rgba16Float,
                    T::TEXTURE_BINDING | T::STORAGE_BINDING,
                )
                .create_view(&Default::default())
            };
            let smoothed = [half("smoothed mask"), half("smoothed mask")];
            let guide = [
                half("guide stats"),
                half("guide coeffs"),
                half("guide mean"),
            ];
            self.mask = Some(MaskTextures {
                width,
                height,
                fresh_view: fresh.create_view(&Default::default()),
                fresh,
                smoothed,
                guide,
            });
            self.mask_current = None;
            self.binds = None;
        }
        let Some(m) = self.mask.as_ref() else {
            return Ok(());
        };
        upload(&self.ctx.queue, &m.fresh, mask, (width, height, 1), 1);
        self.mask_pending = true;
        Ok(())
    }

    /// Forgets the person mask (the source changed): backgrounds wait for a new one.
    pub fn clear_mask(&mut self) {
        self.mask_current = None;
        self.mask_pending = false;
    }

    /// True once a mask has arrived, i.e. when a background can be applied.
    pub fn has_mask(&self) -> bool {
        self.mask_current.is_some() || self.mask_pending
    }

    /// Sets the picture behind the person: RGBA8 at exactly the frame size
    /// (scenes, images and clip frames are fitted on the CPU first).
    pub fn set_picture(&mut self, rgba: &[u8], size: Size) -> Result<(), GpuError> {
        if rgba.len() != size.pixels() * 4 {
            return Err(GpuError::Failed(format!(
                "a {size} picture needs {} bytes, got {}",
                size.pixels() * 4,
                rgba.len()
            )));
        }
        self.ensure_size(size);
        let Some(sz) = self.sized.as_ref() else {
            return Err(GpuError::Failed("frame resources missing".into()));
        };
        upload(
            &self.ctx.queue,
            &sz.picture,
            rgba,
            (size.width, size.height, 1),
            4,
        );
        Ok(())
    }

    /// The pack pipeline for an output format, backdrop and avatar mode,
    /// built on first use.
    fn pack_pipeline(&mut self, key: PackKey) {
        let (format, backdrop, full, avatar, source) = key;
        if self.packs.contains_key(&key) {
            return;
        }
        let entry = ["pack_rgba", "pack_yuyv", "pack_nv12"][format as usize];
        let p = explicit_pipeline(
            &self.ctx.device,
            &self.pack_pipeline_layout,
            &self.pack_module,
            entry,
            &[
                ("backdrop", backdrop as f64),
                ("full", full as f64),
                ("avatar", avatar as f64),
                ("in_format", source as f64),
            ],
        );
        self.packs.insert(key, p);
    }

    /// Builds the bind groups for the current frame size, mask and blur plan.
    fn ensure_binds(&mut self, plan: &BlurPlan) {
        let Some(sz) = self.sized.as_ref() else {
            return;
        };
        let mask = self.mask.as_ref();
        let key = (
            sz.size,
            mask.map_or((0, 0), |m| (m.width, m.height)),
            plan.factor,
        );
        if self.binds.as_ref().is_some_and(|b| b.key == key) {
            return;
        }
        let d = &self.ctx.device;
        if self
            .low
            .as_ref()
            .is_none_or(|(s, f, _)| (*s, *f) != (sz.size, plan.factor))
        {
            use wgpu::TextureUsages as T;
            let low = [0, 1].map(|_| {
                texture(
                    d,
                    "blur",
                    plan.low.width,
                    plan.low.height,
                    wgpu::TextureFormat::Rgba16Float,
                    T::TEXTURE_BINDING | T::STORAGE_BINDING,
                )
                .create_view(&Default::default())
            });
            self.low = Some((sz.size, plan.factor, low));
        }
        let Some((_, _, low)) = self.low.as_ref() else {
            return;
        };
        use wgpu::BindingResource::TextureView as V;
        let filtered = &sz.filtered;
        let smoothed = mask.map(|m| [&m.smoothed[0], &m.smoothed[1]]);
        let sm = smoothed.unwrap_or([&self.blank, &self.blank]);
        // Packing reads the guided filter's mean coefficients.
        let guided = mask.map_or(&self.blank, |m| &m.guide[2]);
        let pack_group = |person: &wgpu::TextureView, mask_read: &wgpu::TextureView| {
            d.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("pack"),
                layout: &self.pack_layout,
                entries: &[
                    entry(0, self.pack_params.as_entire_binding()),
                    entry(1, V(person)),
                    entry(2, sz.out_buf.as_entire_binding()),
                    entry(3, self.comp_params.as_entire_binding()),
                    entry(4, V(mask_read)),
                    entry(5, V(&low[0])),
                    entry(6, V(&sz.picture_view)),
                    entry(7, wgpu::BindingResource::Sampler(&self.sampler)),
                    entry(8, sz.in_buf.as_entire_binding()),
                ],
            })
        };
        let pack = [pack_group(filtered, sm[0]), pack_group(filtered, sm[1])];
        let pack_guided = pack_group(filtered, guided);
        // Every background pass binds all slots; a texture is never both read
        // and written in one pass.
        let background = mask.map(|mask| {
            let group = |person: &wgpu::TextureView,
                         mask_read: &wgpu::TextureView,
                         low_read: &wgpu::TextureView,
                         half_write: &wgpu::TextureView| {
                d.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("background"),
                    layout: &self.bg.layout,
                    entries: &[
                        entry(0, self.bg_params.as_entire_binding()),
                        entry(1, V(person)),
                        entry(2, V(&mask.fresh_view)),
                        entry(3, V(mask_read)),
                        entry(4, V(low_read)),
                        entry(6, wgpu::BindingResource::Sampler(&self.sampler)),
                        entry(7, V(half_write)),
                        entry(8, sz.in_buf.as_entire_binding()),
                    ],
                })
            };
            BackgroundPasses {
                smooth: [
                    group(filtered, sm[1], &low[0], sm[0]),
                    group(filtered, sm[0], &low[0], sm[1]),
                ],
                down: [0, 1].map(|i| group(filtered, sm[i], &low[1], &low[0])),
                blur_h: group(filtered, sm[0], &low[0], &low[1]),
                blur_v: group(filtered, sm[0], &low[1], &low[0]),
                guide_stats: [0, 1].map(|i| group(filtered, sm[i], &mask.guide[1], &mask.guide[0])),
                guide_coeffs: group(filtered, sm[0], &mask.guide[0], &mask.guide[1]),
                guide_mean: group(filtered, sm[0], &mask.guide[1], &mask.guide[2]),
            }
        });
        self.binds = Some(Binds {
            key,
            low: plan.low,
            pack,
            pack_guided,
            background,
        });
    }

    /// Applies `look` to `frame` and returns it in `out`, waiting for the GPU.
    /// `frame_no` drives time-based effects.
    pub fn process(
        &mut self,
        frame: &Frame,
        look: Look<'_>,
        frame_no: u32,
        out: PixelFormat,
    ) -> Result<Frame, GpuError> {
        self.drain();
        self.submit(frame, look, frame_no, out)?;
        self.collect(true)
            .unwrap_or_else(|| Err(GpuError::Failed("frame lost on the GPU".into())))
    }

    /// Frames submitted and not yet collected.
    pub fn in_flight(&self) -> usize {
        self.in_flight.len()
    }

    /// Waits for every frame in flight and drops them (used before resources change).
    fn drain(&mut self) {
        while self.collect(true).is_some() {}
    }

    /// Records and submits the GPU work for one frame; its result comes back
    /// through `collect`. With `RING` readback buffers, up to `RING - 1`
    /// frames may be in flight; a full ring waits for the oldest.
    pub fn submit(
        &mut self,
        frame: &Frame,
        look: Look<'_>,
        frame_no: u32,
        out: PixelFormat,
    ) -> Result<(), GpuError> {
        let info = match look.filter {
            Some(spec) => {
                let info = filters::find(&spec.name)
                    .ok_or_else(|| GpuError::Failed(format!("unknown filter {}", spec.name)))?;
                self.ensure_lut(spec)?;
                Some((info, spec.values(info)))
            }
            None => None,
        };
        let code = in_format(frame.format);
        if let Some((info, _)) = info {
            self.filter_pipeline(info.id, code);
        }
        // After a filter the later passes read its picture; without one they
        // read the camera's bytes.
        let source: Source = if info.is_some() { 0 } else { code };
        self.bg.ensure_source(&self.ctx.device, source);
        let size = frame.size;
        self.ensure_size(size);
        // A full avatar replaces the person: it needs a picture behind it, no mask.
        let full = look
            .avatar
            .is_some_and(|a| a.mode == Mode::Full && look.backdrop == Backdrop::Picture);
        // Without a mask there is nobody to put in front of a background.
        let backdrop = if self.has_mask() || full {
            look.backdrop
        } else {
            Backdrop::None
        };

        let plan = match backdrop {
            Backdrop::Blur { strength } => blur_plan(strength, size),
            // Not blurring: any small plan will do for the (unused) blur textures.
            _ => self
                .binds
                .as_ref()
                .filter(|b| b.key.0 == size)
                .map(|b| BlurPlan {
                    factor: b.key.2,
                    low: b.low,
                    sigma: 1.0,
                    radius: 1,
                })
                .unwrap_or_else(|| blur_plan(crate::settings::background::DEFAULT_BLUR, size)),
        };
        self.ensure_binds(&plan);
        let pack_format = if packs_on_gpu(out, size) {
            out
        } else {
            PixelFormat::Rgba
        };
        let format_code = match pack_format {
            PixelFormat::Yuyv => 1,
            PixelFormat::Nv12 => 2,
            _ => 0,
        };
        let backdrop_code = match backdrop {
            Backdrop::None => 0,
            Backdrop::Blur { .. } => 1,
            Backdrop::Picture => 2,
        };
        let full_code = full as u32;
        // The avatar's box (None: nothing to draw) and its work this frame.
        let per_word = match pack_format {
            PixelFormat::Yuyv => 2,
            PixelFormat::Nv12 => 4,
            _ => 1,
        };
        let mut worn = None;
        if let Some(a) = look.avatar {
            if let Some(b) = AvatarBox::new(a.bounds, size) {
                let prepared =
                    self.avatar
                        .prepare(&self.ctx, &self.sampler, a, size, b, per_word)?;
                self.pack_pipeline((format_code, backdrop_code, full_code, 1, source));
                worn = Some((b, prepared));
            }
        }
        self.pack_pipeline((format_code, backdrop_code, full_code, 0, source));
        if self.in_flight.len() >= RING - 1 {
            // The oldest frame is dropped here only if its caller never collects.
            let _ = self.collect(true);
        }
        let (Some(sz), Some(binds), Some(pack)) = (
            self.sized.as_ref(),
            self.binds.as_ref(),
            self.packs
                .get(&(format_code, backdrop_code, full_code, 0, source)),
        ) else {
            return Err(GpuError::Failed("frame resources missing".into()));
        };
        let (w, h) = (size.width, size.height);
        let q = &self.ctx.queue;
        // Upload the bytes as they came (YUV stays YUV: fewer bytes to move).
        let len = frame.data.len().min(sz.buf_len as usize);
        let aligned = len / 4 * 4;
        q.write_buffer(&sz.in_buf, 0, &frame.data[..aligned]);
        if aligned < len {
            let mut tail = [0u8; 4];
            tail[..len - aligned].copy_from_slice(&frame.data[aligned..len]);
            q.write_buffer(&sz.in_buf, aligned as u64, &tail);
        }
        q.write_buffer(&self.pack_params, 0, &words(&[w, h, 0, 0]));
        if let Some((info, v)) = info {
            let mut bytes = words(&[w, h, 0, frame_no]);
            let p1 = if info.name == "lut" {
                self.lut.size as f32
            } else {
                v[1]
            };
            for f in [v[0], p1, v[2], v[3]] {
                bytes.extend_from_slice(&f.to_le_bytes());
            }
            q.write_buffer(&self.filter_params, 0, &bytes);
        }
        let smooth_into = match (self.mask_pending, self.mask_current) {
            (false, _) => None,
            (true, None) => Some((0, 1.0f32)),
            (true, Some(i)) => Some((1 - i, MASK_KEEP_NEW)),
        };
        if let Some(mask) = self.mask.as_ref() {
            let keep_new = smooth_into.map_or(MASK_KEEP_NEW, |(_, k)| k);
            let mut bytes = words(&[
                w,
                h,
                binds.low.width,
                binds.low.height,
                mask.width,
                mask.height,
                plan.factor,
                plan.radius.div_ceil(2),
            ]);
            let (center, pairs) = plan.tap_pairs();
            for f in [FEATHER, keep_new, center] {
                bytes.extend_from_slice(&f.to_le_bytes());
            }
            bytes.extend_from_slice(&GUIDE_RADIUS.to_le_bytes());
            let mut taps: Vec<f32> = pairs.iter().flat_map(|&(o, w)| [o, w]).collect();
            taps.resize(40, 0.0);
            for f in taps {
                bytes.extend_from_slice(&f.to_le_bytes());
            }
            q.write_buffer(&self.bg_params, 0, &bytes);
        }
        let out_len = pack_format.frame_len(w, h) as u64;
        let groups = |gw: u32, gh: u32| (gw.div_ceil(WG), gh.div_ceil(WG));
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            let full = groups(w, h);
            if let Some(pipe) = info.and_then(|(i, _)| self.filters.get(&(i.id, code))) {
                dispatch(&mut pass, pipe, &sz.filter_bg, full);
            }
            if let (Some(mask), Some(passes)) = (self.mask.as_ref(), binds.background.as_ref()) {
                let at_mask = groups(mask.width, mask.height);
                if let Some((into, _)) = smooth_into {
                    dispatch(&mut pass, &self.bg.smooth, &passes.smooth[into], at_mask);
                    self.mask_current = Some(into);
                    self.mask_pending = false;
                }
                let cur = self.mask_current.unwrap_or(0);
                if let (Backdrop::Picture, Some(stats)) =
                    (backdrop, self.bg.guide_stats.get(&source))
                {
                    // The guide is this frame: refit every frame.
                    dispatch(&mut pass, stats, &passes.guide_stats[cur], at_mask);
                    dispatch(
                        &mut pass,
                        &self.bg.guide_coeffs,
                        &passes.guide_coeffs,
                        at_mask,
                    );
                    dispatch(&mut pass, &self.bg.guide_mean, &passes.guide_mean, at_mask);
                }
                if let (Backdrop::Blur { .. }, Some(down)) = (backdrop, self.bg.down.get(&source)) {
                    let at_low = groups(binds.low.width, binds.low.height);
                    dispatch(&mut pass, down, &passes.down[cur], at_low);
                    dispatch(&mut pass, &self.bg.blur_h, &passes.blur_h, at_low);
                    dispatch(&mut pass, &self.bg.blur_v, &passes.blur_v, at_low);
                }
            }
            // Packing composites the background in the same pass.
            let packed = match pack_format {
                PixelFormat::Yuyv => groups(w / 2, h),
                PixelFormat::Nv12 => groups(w / 4, h + h / 2),
                _ => full,
            };
            let cur = self.mask_current.unwrap_or(0);
            let group = match backdrop {
                Backdrop::Picture => &binds.pack_guided,
                _ => &binds.pack[cur],
            };
            // With an avatar the main pass leaves its box to the avatar pass.
            let main_group = match (&worn, self.avatar.pack_group()) {
                (Some(_), Some(g)) => g,
                _ => &self.avatar.blank,
            };
            pass.set_bind_group(1, main_group, &[]);
            dispatch(&mut pass, pack, group, packed);
            // The avatar: its layers into the overlay, then the same packing
            // again over its box, with the overlay on top.
            if let (Some((b, prepared)), Some(pack_avatar), Some(avatar_group)) = (
                &worn,
                self.packs
                    .get(&(format_code, backdrop_code, full_code, 1, source)),
                self.avatar.pack_group(),
            ) {
                self.avatar.record(&mut pass, prepared);
                let (words, rows) = ((b.x1 - b.x0) / per_word, b.y1 - b.y0);
                let rows_out = match pack_format {
                    PixelFormat::Nv12 => rows + rows / 2,
                    _ => rows,
                };
                pass.set_bind_group(1, avatar_group, &[]);
                dispatch(&mut pass, pack_avatar, group, groups(words, rows_out));
            }
        }
        let slot = self.next_slot;
        self.next_slot = (slot + 1) % RING;
        let readback = &sz.readback[slot];
        enc.copy_buffer_to_buffer(&sz.out_buf, 0, readback, 0, out_len.min(sz.buf_len));
        q.submit([enc.finish()]);
        let (tx, rx) = mpsc::channel();
        readback
            .slice(..out_len)
            .map_async(wgpu::MapMode::Read, move |r| {
                let _ = tx.send(r);
            });
        self.in_flight.push_back(InFlight {
            slot,
            len: out_len,
            size,
            packed: pack_format,
            out,
            seq: frame.seq,
            captured_at: frame.captured_at,
            mapped: rx,
        });
        Ok(())
    }

    /// The oldest frame in flight, once the GPU has finished it. With `wait`
    /// false it returns None at once when that frame is not ready yet.
    pub fn collect(&mut self, wait: bool) -> Option<Result<Frame, GpuError>> {
        let front = self.in_flight.front()?;
        let poll = if wait {
            wgpu::PollType::wait_indefinitely()
        } else {
            wgpu::PollType::Poll
        };
        if let Err(e) = self.ctx.device.poll(poll) {
            self.in_flight.pop_front();
            return Some(Err(GpuError::Failed(e.to_string())));
        }
        let mapped = match front.mapped.try_recv() {
            Ok(r) => r,
            Err(mpsc::TryRecvError::Empty) if !wait => return None,
            Err(e) => {
                self.in_flight.pop_front();
                return Some(Err(GpuError::Failed(format!("readback lost: {e}"))));
            }
        };
        let f = self.in_flight.pop_front()?;
        Some(self.finish(f, mapped))
    }

    fn finish(
        &self,
        f: InFlight,
        mapped: Result<(), wgpu::BufferAsyncError>,
    ) -> Result<Frame, GpuError> {
        mapped.map_err(|e| GpuError::Failed(e.to_string()))?;
        let Some(sz) = self.sized.as_ref() else {
            return Err(GpuError::Failed("frame resources missing".into()));
        };
        let buffer = &sz.readback[f.slot];
        let slice = buffer.slice(..f.len);
        let data = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Failed(e.to_string()))?
            .to_vec();
        buffer.unmap();
        let packed = Frame {
            size: f.size,
            format: f.packed,
            data,
            seq: f.seq,
            captured_at: f.captured_at,
        };
        if f.packed == f.out {
            Ok(packed)
        } else {
            crate::convert::convert(&packed, f.out).map_err(|e| GpuError::Failed(e.to_string()))
        }
    }
}
