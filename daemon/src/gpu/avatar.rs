//! The avatar on the GPU: the art of the worn pack as a texture array (one
//! slice per raster slice), an overlay buffer that `avatar.wgsl` draws the
//! slices into, each over its own box only, and what the pack pass needs to
//! put the overlay over the picture. Used by `engine`.

use super::uniforms::{self, AvatarPack, Slice};
use super::wgpu_util::{entry, layout_entry, sampled, uniform, SAMPLER, UNIFORM};
use super::{shaders, GpuContext, GpuError};
use crate::avatar::Drawing;
use crate::frame::Size;

/// Slots of the per-dispatch parameter buffer: one per slice, one for the clear.
const SLOTS: u64 = crate::avatar::pack::MAX_LAYERS as u64 + 1;
/// Dynamic offsets must be multiples of 256 bytes.
const SLOT: u64 = 256;
/// Bytes of one `Slice`.
const SLICE: u64 = std::mem::size_of::<Slice>() as u64;

const WG: u32 = 16;

/// The box the avatar pass covers, in frame pixels: x0 a multiple of 4 and
/// y0, y1 even, so every packed output word is wholly inside or outside.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AvatarBox {
    pub x0: u32,
    pub y0: u32,
    pub x1: u32,
    pub y1: u32,
}

impl AvatarBox {
    /// The box for `bounds` (x0, y0, x1, y1) in a frame of `size`; None when empty.
    pub fn new(bounds: [f32; 4], size: Size) -> Option<AvatarBox> {
        let [x0, y0, x1, y1] = bounds.map(|v| v.max(0.0) as u32);
        let b = AvatarBox {
            x0: (x0 / 4 * 4).min(size.width),
            x1: (x1.div_ceil(4) * 4).min(size.width),
            y0: (y0 / 2 * 2).min(size.height),
            y1: (y1.div_ceil(2) * 2).min(size.height),
        };
        (b.x1 > b.x0 && b.y1 > b.y0).then_some(b)
    }

    fn width(&self) -> u32 {
        self.x1 - self.x0
    }

    fn height(&self) -> u32 {
        self.y1 - self.y0
    }
}

/// This frame's avatar work, ready to record.
#[derive(Debug)]
pub struct Prepared {
    /// Dynamic offset and workgroups of the clear, then of each slice drawn.
    clear: (u32, (u32, u32)),
    slices: Vec<(u32, (u32, u32))>,
}

#[derive(Debug)]
struct Art {
    raster_id: u64,
    view: wgpu::TextureView,
}

#[derive(Debug)]
struct Overlay {
    size: Size,
    buffer: wgpu::Buffer,
}

#[derive(Debug)]
struct Groups {
    key: (u64, Size),
    pack: wgpu::BindGroup,
    layer: wgpu::BindGroup,
}

#[derive(Debug)]
pub struct AvatarGpu {
    /// Group 1 of the pack pipelines: `Avatar` uniform + the overlay.
    pub pack_layout: wgpu::BindGroupLayout,
    layer_layout: wgpu::BindGroupLayout,
    clear: wgpu::ComputePipeline,
    layer: wgpu::ComputePipeline,
    pack_params: wgpu::Buffer,
    slice_params: wgpu::Buffer,
    /// Group 1 for the main pack pass (and any pass without an avatar).
    pub blank: wgpu::BindGroup,
    art: Option<Art>,
    overlay: Option<Overlay>,
    groups: Option<Groups>,
}

fn storage(read_only: bool) -> wgpu::BindingType {
    wgpu::BindingType::Buffer {
        ty: wgpu::BufferBindingType::Storage { read_only },
        has_dynamic_offset: false,
        min_binding_size: None,
    }
}

fn buffer(d: &wgpu::Device, label: &str, size: u64, usage: wgpu::BufferUsages) -> wgpu::Buffer {
    d.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: usage | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

impl AvatarGpu {
    pub fn new(d: &wgpu::Device) -> Result<Self, GpuError> {
        let src = shaders::source("avatar.wgsl").map_err(|e| GpuError::Failed(e.to_string()))?;
        let module = d.create_shader_module(wgpu::ShaderModuleDescriptor {
            label: Some("avatar.wgsl"),
            source: wgpu::ShaderSource::Wgsl(src.into()),
        });
        let pack_layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("avatar (pack)"),
            entries: &[layout_entry(0, UNIFORM), layout_entry(1, storage(true))],
        });
        let layer_layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("avatar layers"),
            entries: &[
                layout_entry(
                    0,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: true,
                        min_binding_size: wgpu::BufferSize::new(SLICE),
                    },
                ),
                layout_entry(1, storage(false)),
                layout_entry(2, sampled(wgpu::TextureViewDimension::D2Array)),
                layout_entry(3, SAMPLER),
            ],
        });
        let pl = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("avatar layers"),
            bind_group_layouts: &[Some(&layer_layout)],
            immediate_size: 0,
        });
        let pipeline = |entry: &str| {
            d.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some(entry),
                layout: Some(&pl),
                module: &module,
                entry_point: Some(entry),
                compilation_options: Default::default(),
                cache: None,
            })
        };
        let pack_params = uniforms::buffer::<AvatarPack>(d, "avatar pack params");
        // Never written: all zero, i.e. no box.
        let blank_params = uniforms::buffer::<AvatarPack>(d, "avatar blank params");
        let blank_overlay = buffer(d, "avatar blank overlay", 16, wgpu::BufferUsages::STORAGE);
        let blank = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("avatar blank"),
            layout: &pack_layout,
            entries: &[
                entry(0, blank_params.as_entire_binding()),
                entry(1, blank_overlay.as_entire_binding()),
            ],
        });
        Ok(AvatarGpu {
            clear: pipeline("clear"),
            layer: pipeline("layer"),
            slice_params: uniform(d, "avatar slices", SLOTS * SLOT),
            pack_params,
            pack_layout,
            layer_layout,
            blank,
            art: None,
            overlay: None,
            groups: None,
        })
    }

    /// Uploads the art (once per raster), sizes the overlay (once per frame
    /// size), and writes this frame's parameters for the box `b` of a frame
    /// of `size`, packed in blocks of `block` pixels (`Packed::block`).
    pub fn prepare(
        &mut self,
        ctx: &GpuContext,
        sampler: &wgpu::Sampler,
        a: &Drawing,
        size: Size,
        b: AvatarBox,
        block: (u32, u32),
    ) -> Result<Prepared, GpuError> {
        let d = &ctx.device;
        let r = &a.raster;
        let n = r.slices.len().min(crate::avatar::pack::MAX_LAYERS);
        if n == 0
            || a.to_art.len() < n
            || a.opacity.len() < n
            || a.slice_bounds.len() < n
            || r.content.len() < n
        {
            return Err(GpuError::Failed("an avatar without layers".into()));
        }
        if self.art.as_ref().is_none_or(|art| art.raster_id != r.id) {
            let bytes: Vec<u8> = r.slices[..n].concat();
            if bytes.len() != (r.width * r.height * 4) as usize * n {
                return Err(GpuError::Failed("avatar layers of unequal size".into()));
            }
            let tex = d.create_texture(&wgpu::TextureDescriptor {
                label: Some("avatar art"),
                size: wgpu::Extent3d {
                    width: r.width,
                    height: r.height,
                    depth_or_array_layers: n as u32,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::COPY_DST,
                view_formats: &[],
            });
            ctx.queue.write_texture(
                wgpu::TexelCopyTextureInfo {
                    texture: &tex,
                    mip_level: 0,
                    origin: wgpu::Origin3d::ZERO,
                    aspect: wgpu::TextureAspect::All,
                },
                &bytes,
                wgpu::TexelCopyBufferLayout {
                    offset: 0,
                    bytes_per_row: Some(r.width * 4),
                    rows_per_image: Some(r.height),
                },
                wgpu::Extent3d {
                    width: r.width,
                    height: r.height,
                    depth_or_array_layers: n as u32,
                },
            );
            self.art = Some(Art {
                raster_id: r.id,
                view: tex.create_view(&wgpu::TextureViewDescriptor {
                    dimension: Some(wgpu::TextureViewDimension::D2Array),
                    ..Default::default()
                }),
            });
        }
        if self.overlay.as_ref().is_none_or(|o| o.size != size) {
            self.overlay = Some(Overlay {
                size,
                buffer: buffer(
                    d,
                    "avatar overlay",
                    (size.pixels() * 4).max(16) as u64,
                    wgpu::BufferUsages::STORAGE,
                ),
            });
        }
        let (Some(art), Some(overlay)) = (&self.art, &self.overlay) else {
            return Err(GpuError::Failed("avatar resources missing".into()));
        };
        let key = (art.raster_id, size);
        if self.groups.as_ref().is_none_or(|g| g.key != key) {
            self.groups = Some(Groups {
                key,
                pack: d.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("avatar (pack)"),
                    layout: &self.pack_layout,
                    entries: &[
                        entry(0, self.pack_params.as_entire_binding()),
                        entry(1, overlay.buffer.as_entire_binding()),
                    ],
                }),
                layer: d.create_bind_group(&wgpu::BindGroupDescriptor {
                    label: Some("avatar layers"),
                    layout: &self.layer_layout,
                    entries: &[
                        entry(
                            0,
                            wgpu::BindingResource::Buffer(wgpu::BufferBinding {
                                buffer: &self.slice_params,
                                offset: 0,
                                size: wgpu::BufferSize::new(SLICE),
                            }),
                        ),
                        entry(1, overlay.buffer.as_entire_binding()),
                        entry(2, wgpu::BindingResource::TextureView(&art.view)),
                        entry(3, wgpu::BindingResource::Sampler(sampler)),
                    ],
                }),
            });
        }
        let q = &ctx.queue;
        let (w, h) = (b.width(), b.height());
        let pack = AvatarPack {
            ox: b.x0 / block.0,
            oy: b.y0 / block.1,
            rows: h / block.1,
            cols: w.div_ceil(block.0),
            overlay: [b.x0, b.y0, w, h],
        };
        uniforms::write(q, &self.pack_params, &pack);
        let groups = |gw: u32, gh: u32| (gw.div_ceil(WG), gh.div_ceil(WG));
        let mut slot = 0u64;
        let mut write = |slice: &Slice| -> u32 {
            let offset = (slot * SLOT) as u32;
            q.write_buffer(&self.slice_params, slot * SLOT, bytemuck::bytes_of(slice));
            slot += 1;
            offset
        };
        let clear = Slice {
            rect: [b.x0, b.y0, w, h],
            overlay: [b.x0, b.y0, w, 0],
            ..Default::default()
        };
        let clear = (write(&clear), groups(w, h));
        let mut slices = Vec::new();
        for i in 0..n {
            let sb = a.slice_bounds[i];
            // The slice's box, within the overlay.
            let x0 = (sb[0].max(0.0) as u32).max(b.x0);
            let y0 = (sb[1].max(0.0) as u32).max(b.y0);
            let x1 = (sb[2].max(0.0).ceil() as u32).min(b.x1);
            let y1 = (sb[3].max(0.0).ceil() as u32).min(b.y1);
            if a.opacity[i] <= 0.0 || x1 <= x0 || y1 <= y0 {
                continue;
            }
            let m = a.to_art[i];
            let row = |r: [f32; 3]| [r[0], r[1], r[2], 0.0];
            let slice = Slice {
                m0: row(m[0]),
                m1: row(m[1]),
                m2: row(m[2]),
                opacity: [a.opacity[i], 0.0, 0.0, 0.0],
                content: r.content[i],
                rect: [x0, y0, x1 - x0, y1 - y0],
                overlay: [b.x0, b.y0, w, i as u32],
            };
            let offset = write(&slice);
            slices.push((offset, groups(x1 - x0, y1 - y0)));
        }
        Ok(Prepared { clear, slices })
    }

    /// Group 1 for the avatar's pack pass (after `prepare`).
    pub fn pack_group(&self) -> Option<&wgpu::BindGroup> {
        self.groups.as_ref().map(|g| &g.pack)
    }

    /// Records the clear and the slices, in order.
    pub fn record(&self, pass: &mut wgpu::ComputePass<'_>, p: &Prepared) {
        let Some(g) = &self.groups else { return };
        let (offset, (gx, gy)) = p.clear;
        pass.set_pipeline(&self.clear);
        pass.set_bind_group(0, &g.layer, &[offset]);
        pass.dispatch_workgroups(gx, gy, 1);
        pass.set_pipeline(&self.layer);
        for &(offset, (gx, gy)) in &p.slices {
            pass.set_bind_group(0, &g.layer, &[offset]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
    }
}
