//! Runs one frame through the GPU: upload the camera bytes as they are, unpack
//! to RGBA (unpack.wgsl), filter (filter.wgsl), pack to the output format
//! (pack.wgsl), read back. Pipelines are built once; per-size resources are
//! kept until the size changes, so switching effects rebuilds nothing.

use std::collections::HashMap;
use std::path::PathBuf;

use super::filters::{self, FilterSpec};
use super::lut::Lut3d;
use super::{shaders, GpuContext, GpuError};
use crate::frame::{Frame, PixelFormat, Size};

const WG: u32 = 8;

/// Resources that depend on the frame size.
#[derive(Debug)]
struct Sized {
    size: Size,
    in_buf: wgpu::Buffer,
    /// Bytes of each frame buffer: an RGBA frame, the largest any format needs.
    buf_len: u64,
    out_buf: wgpu::Buffer,
    readback: wgpu::Buffer,
    unpack_bg: wgpu::BindGroup,
    filter_bg: wgpu::BindGroup,
    /// Pack bind groups by [RGBA, YUYV, NV12] entry point, for sources A and B
    /// (auto-derived layouts are per pipeline, so each needs its own).
    pack_bgs: [[wgpu::BindGroup; 2]; 3],
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
    unpack: wgpu::ComputePipeline,
    /// One pipeline per filter (specialised through the `kind` override),
    /// built on first use and kept.
    filters: HashMap<u32, wgpu::ComputePipeline>,
    filter_module: wgpu::ShaderModule,
    filter_layout: wgpu::BindGroupLayout,
    filter_pipeline_layout: wgpu::PipelineLayout,
    pack_rgba: wgpu::ComputePipeline,
    pack_yuyv: wgpu::ComputePipeline,
    pack_nv12: wgpu::ComputePipeline,
    unpack_params: wgpu::Buffer,
    filter_params: wgpu::Buffer,
    pack_params: wgpu::Buffer,
    sampler: wgpu::Sampler,
    lut: LoadedLut,
    sized: Option<Sized>,
}

/// One shader file, includes resolved, compiled once however many entry points use it.
fn module(device: &wgpu::Device, file: &str) -> Result<wgpu::ShaderModule, GpuError> {
    let src = shaders::source(file).map_err(|e| GpuError::Failed(e.to_string()))?;
    Ok(device.create_shader_module(wgpu::ShaderModuleDescriptor {
        label: Some(file),
        source: wgpu::ShaderSource::Wgsl(src.into()),
    }))
}

fn pipeline(
    device: &wgpu::Device,
    module: &wgpu::ShaderModule,
    entry: &str,
) -> wgpu::ComputePipeline {
    device.create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
        label: Some(entry),
        layout: None,
        module,
        entry_point: Some(entry),
        compilation_options: Default::default(),
        cache: None,
    })
}

fn uniform(device: &wgpu::Device, label: &str, size: u64) -> wgpu::Buffer {
    device.create_buffer(&wgpu::BufferDescriptor {
        label: Some(label),
        size,
        usage: wgpu::BufferUsages::UNIFORM | wgpu::BufferUsages::COPY_DST,
        mapped_at_creation: false,
    })
}

fn words(values: &[u32]) -> Vec<u8> {
    values.iter().flat_map(|v| v.to_le_bytes()).collect()
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
    ctx.queue.write_texture(
        wgpu::TexelCopyTextureInfo {
            texture: &tex,
            mip_level: 0,
            origin: wgpu::Origin3d::ZERO,
            aspect: wgpu::TextureAspect::All,
        },
        &lut.rgba8(),
        wgpu::TexelCopyBufferLayout {
            offset: 0,
            bytes_per_row: Some(4 * n),
            rows_per_image: Some(n),
        },
        wgpu::Extent3d {
            width: n,
            height: n,
            depth_or_array_layers: n,
        },
    );
    tex.create_view(&Default::default())
}

/// The GPU format code of unpack.wgsl.
fn unpack_code(f: PixelFormat) -> u32 {
    match f {
        PixelFormat::Rgba => 0,
        PixelFormat::Yuyv => 1,
        PixelFormat::Nv12 => 2,
        PixelFormat::I420 => 3,
    }
}

/// Whether pack.wgsl writes `f` at `size` directly (else RGBA, converted on the CPU).
fn packs_on_gpu(f: PixelFormat, size: Size) -> bool {
    match f {
        PixelFormat::Rgba | PixelFormat::Yuyv => true,
        PixelFormat::Nv12 => size.width % 4 == 0,
        PixelFormat::I420 => false,
    }
}

impl GpuEngine {
    pub fn new(ctx: GpuContext) -> Result<Self, GpuError> {
        let d = &ctx.device;
        let unpack = pipeline(d, &module(d, "unpack.wgsl")?, "main");
        let filter_module = module(d, "filter.wgsl")?;
        let compute = wgpu::ShaderStages::COMPUTE;
        let layout_entry = |binding: u32, ty: wgpu::BindingType| wgpu::BindGroupLayoutEntry {
            binding,
            visibility: compute,
            ty,
            count: None,
        };
        let filter_layout = d.create_bind_group_layout(&wgpu::BindGroupLayoutDescriptor {
            label: Some("filter"),
            entries: &[
                layout_entry(
                    0,
                    wgpu::BindingType::Buffer {
                        ty: wgpu::BufferBindingType::Uniform,
                        has_dynamic_offset: false,
                        min_binding_size: None,
                    },
                ),
                layout_entry(
                    1,
                    wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D2,
                        multisampled: false,
                    },
                ),
                layout_entry(
                    2,
                    wgpu::BindingType::StorageTexture {
                        access: wgpu::StorageTextureAccess::WriteOnly,
                        format: wgpu::TextureFormat::Rgba8Unorm,
                        view_dimension: wgpu::TextureViewDimension::D2,
                    },
                ),
                layout_entry(
                    3,
                    wgpu::BindingType::Texture {
                        sample_type: wgpu::TextureSampleType::Float { filterable: true },
                        view_dimension: wgpu::TextureViewDimension::D3,
                        multisampled: false,
                    },
                ),
                layout_entry(
                    4,
                    wgpu::BindingType::Sampler(wgpu::SamplerBindingType::Filtering),
                ),
            ],
        });
        let filter_pipeline_layout = d.create_pipeline_layout(&wgpu::PipelineLayoutDescriptor {
            label: Some("filter"),
            bind_group_layouts: &[Some(&filter_layout)],
            immediate_size: 0,
        });
        let pack = module(d, "pack.wgsl")?;
        let pack_rgba = pipeline(d, &pack, "pack_rgba");
        let pack_yuyv = pipeline(d, &pack, "pack_yuyv");
        let pack_nv12 = pipeline(d, &pack, "pack_nv12");
        let sampler = d.create_sampler(&wgpu::SamplerDescriptor {
            label: Some("lut"),
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
            unpack_params: uniform(d, "unpack params", 16),
            filter_params: uniform(d, "filter params", 32),
            pack_params: uniform(d, "pack params", 16),
            ctx,
            unpack,
            filters: HashMap::new(),
            filter_module,
            filter_layout,
            filter_pipeline_layout,
            pack_rgba,
            pack_yuyv,
            pack_nv12,
            sampler,
            lut,
            sized: None,
        })
    }

    pub fn adapter(&self) -> String {
        super::describe(&self.ctx.info)
    }

    fn ensure_size(&mut self, size: Size) {
        if self.sized.as_ref().is_some_and(|s| s.size == size) {
            return;
        }
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
        let in_buf = buf("frame in", buf_len, U::STORAGE | U::COPY_DST);
        let out_buf = buf("frame out", buf_len, U::STORAGE | U::COPY_SRC);
        let readback = buf("readback", buf_len, U::MAP_READ | U::COPY_DST);
        let tex = |label: &str| {
            d.create_texture(&wgpu::TextureDescriptor {
                label: Some(label),
                size: wgpu::Extent3d {
                    width: size.width,
                    height: size.height,
                    depth_or_array_layers: 1,
                },
                mip_level_count: 1,
                sample_count: 1,
                dimension: wgpu::TextureDimension::D2,
                format: wgpu::TextureFormat::Rgba8Unorm,
                usage: wgpu::TextureUsages::TEXTURE_BINDING | wgpu::TextureUsages::STORAGE_BINDING,
                view_formats: &[],
            })
        };
        let tex_a = tex("a");
        let tex_b = tex("b");
        let va = tex_a.create_view(&Default::default());
        let vb = tex_b.create_view(&Default::default());
        fn entry(binding: u32, resource: wgpu::BindingResource<'_>) -> wgpu::BindGroupEntry<'_> {
            wgpu::BindGroupEntry { binding, resource }
        }
        let unpack_bg = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("unpack"),
            layout: &self.unpack.get_bind_group_layout(0),
            entries: &[
                entry(0, self.unpack_params.as_entire_binding()),
                entry(1, in_buf.as_entire_binding()),
                entry(2, wgpu::BindingResource::TextureView(&va)),
            ],
        });
        let filter_bg = d.create_bind_group(&wgpu::BindGroupDescriptor {
            label: Some("filter"),
            layout: &self.filter_layout,
            entries: &[
                entry(0, self.filter_params.as_entire_binding()),
                entry(1, wgpu::BindingResource::TextureView(&va)),
                entry(2, wgpu::BindingResource::TextureView(&vb)),
                entry(3, wgpu::BindingResource::TextureView(&self.lut.view)),
                entry(4, wgpu::BindingResource::Sampler(&self.sampler)),
            ],
        });
        let pack_bg = |pipe: &wgpu::ComputePipeline, view: &wgpu::TextureView| {
            d.create_bind_group(&wgpu::BindGroupDescriptor {
                label: Some("pack"),
                layout: &pipe.get_bind_group_layout(0),
                entries: &[
                    entry(0, self.pack_params.as_entire_binding()),
                    entry(1, wgpu::BindingResource::TextureView(view)),
                    entry(2, out_buf.as_entire_binding()),
                ],
            })
        };
        let pack_bgs = [&self.pack_rgba, &self.pack_yuyv, &self.pack_nv12]
            .map(|p| [pack_bg(p, &va), pack_bg(p, &vb)]);
        self.sized = Some(Sized {
            size,
            in_buf,
            buf_len,
            out_buf,
            readback,
            unpack_bg,
            filter_bg,
            pack_bgs,
        });
    }

    /// The pipeline of filter `id`, compiled on first use.
    fn filter_pipeline(&mut self, id: u32) {
        if self.filters.contains_key(&id) {
            return;
        }
        let p = self
            .ctx
            .device
            .create_compute_pipeline(&wgpu::ComputePipelineDescriptor {
                label: Some("filter"),
                layout: Some(&self.filter_pipeline_layout),
                module: &self.filter_module,
                entry_point: Some("main"),
                compilation_options: wgpu::PipelineCompilationOptions {
                    constants: &[("kind", id as f64)],
                    ..Default::default()
                },
                cache: None,
            });
        self.filters.insert(id, p);
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
        self.sized = None; // the filter bind group holds the LUT view
        Ok(())
    }

    /// Applies `filter` (none: unpack and pack only) to `frame` and returns it in `out`.
    /// `frame_no` drives time-based effects.
    pub fn process(
        &mut self,
        frame: &Frame,
        filter: Option<&FilterSpec>,
        frame_no: u32,
        out: PixelFormat,
    ) -> Result<Frame, GpuError> {
        let info = match filter {
            Some(spec) => {
                let info = filters::find(&spec.name)
                    .ok_or_else(|| GpuError::Failed(format!("unknown filter {}", spec.name)))?;
                self.ensure_lut(spec)?;
                Some((info, spec.values(info)))
            }
            None => None,
        };
        if let Some((info, _)) = info {
            self.filter_pipeline(info.id);
        }
        let size = frame.size;
        self.ensure_size(size);
        let Some(sz) = self.sized.as_ref() else {
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
        q.write_buffer(
            &self.unpack_params,
            0,
            &words(&[w, h, unpack_code(frame.format), 0]),
        );
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
        let pack_format = if packs_on_gpu(out, size) {
            out
        } else {
            PixelFormat::Rgba
        };
        let out_len = pack_format.frame_len(w, h) as u64;
        let mut enc = self.ctx.device.create_command_encoder(&Default::default());
        {
            let mut pass = enc.begin_compute_pass(&Default::default());
            pass.set_pipeline(&self.unpack);
            pass.set_bind_group(0, &sz.unpack_bg, &[]);
            pass.dispatch_workgroups(w.div_ceil(WG), h.div_ceil(WG), 1);
            if let Some(pipe) = info.and_then(|(i, _)| self.filters.get(&i.id)) {
                pass.set_pipeline(pipe);
                pass.set_bind_group(0, &sz.filter_bg, &[]);
                pass.dispatch_workgroups(w.div_ceil(WG), h.div_ceil(WG), 1);
            }
            let (pipe, k, gx, gy) = match pack_format {
                PixelFormat::Yuyv => (&self.pack_yuyv, 1, (w / 2).div_ceil(WG), h.div_ceil(WG)),
                PixelFormat::Nv12 => (
                    &self.pack_nv12,
                    2,
                    (w / 4).div_ceil(WG),
                    (h + h / 2).div_ceil(WG),
                ),
                _ => (&self.pack_rgba, 0, w.div_ceil(WG), h.div_ceil(WG)),
            };
            pass.set_pipeline(pipe);
            pass.set_bind_group(0, &sz.pack_bgs[k][usize::from(info.is_some())], &[]);
            pass.dispatch_workgroups(gx, gy, 1);
        }
        enc.copy_buffer_to_buffer(&sz.out_buf, 0, &sz.readback, 0, out_len.min(sz.buf_len));
        q.submit([enc.finish()]);
        let slice = sz.readback.slice(..out_len);
        let (tx, rx) = std::sync::mpsc::channel();
        slice.map_async(wgpu::MapMode::Read, move |r| {
            let _ = tx.send(r);
        });
        self.ctx
            .device
            .poll(wgpu::PollType::wait_indefinitely())
            .map_err(|e| GpuError::Failed(e.to_string()))?;
        rx.recv()
            .map_err(|e| GpuError::Failed(e.to_string()))?
            .map_err(|e| GpuError::Failed(e.to_string()))?;
        let data = slice
            .get_mapped_range()
            .map_err(|e| GpuError::Failed(e.to_string()))?
            .to_vec();
        sz.readback.unmap();
        let packed = Frame {
            size,
            format: pack_format,
            data,
            seq: frame.seq,
            captured_at: frame.captured_at,
        };
        if pack_format == out {
            Ok(packed)
        } else {
            crate::convert::convert(&packed, out).map_err(|e| GpuError::Failed(e.to_string()))
        }
    }
}
