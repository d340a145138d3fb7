//! The effects' worker for slow inputs: draws scenes, decodes background
//! images and clips, and parses `.cube` LUTs on a thread of its own, so the
//! effects thread never reads a file or renders on the CPU. A clip is
//! decoded one frame ahead: each frame taken asks for the next.

use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::Instant;

use crate::convert;
use crate::frame::{Frame, PixelFormat, Size};
use crate::gpu::background::render_scene;
use crate::gpu::lut::Lut3d;
use crate::settings::background::{find_scene, BackgroundSpec};
use crate::source::{self, FrameSource};

#[derive(Debug)]
enum Job {
    /// Draw or open the picture for `spec` at `size`; a clip sends its first frame.
    Picture {
        generation: u64,
        spec: BackgroundSpec,
        size: Size,
    },
    /// The next frame of the clip opened for `generation`.
    NextClipFrame {
        generation: u64,
    },
    Lut {
        path: PathBuf,
    },
}

/// A finished job.
#[derive(Debug)]
pub enum Done {
    /// An RGBA picture at the size asked for, for the request `generation`.
    Picture {
        generation: u64,
        result: Result<Vec<u8>, String>,
    },
    Lut {
        path: PathBuf,
        result: Result<Lut3d, String>,
    },
}

/// The handle the effects keep: send jobs, take what is done.
#[derive(Debug)]
pub struct Loader {
    jobs: Option<mpsc::Sender<Job>>,
    done: mpsc::Receiver<Done>,
    thread: Option<JoinHandle<()>>,
}

fn rgba(frame: Frame) -> Result<Vec<u8>, String> {
    if frame.format == PixelFormat::Rgba {
        Ok(frame.data.into_vec())
    } else {
        convert::convert(&frame, PixelFormat::Rgba)
            .map(|f| f.data.into_vec())
            .map_err(|e| e.to_string())
    }
}

/// The worker's state: the clip being played, for its request.
struct Worker {
    clip: Option<(u64, Box<dyn FrameSource>)>,
}

impl Worker {
    fn picture(
        &mut self,
        generation: u64,
        spec: &BackgroundSpec,
        size: Size,
    ) -> Result<Vec<u8>, String> {
        self.clip = None;
        match spec {
            BackgroundSpec::Scene { name } => {
                let scene = find_scene(name).ok_or_else(|| format!("unknown scene {name}"))?;
                render_scene(scene, size).map_err(|e| e.to_string())
            }
            BackgroundSpec::Image { path } => {
                let mut still = source::file::open(path, size).map_err(|e| e.to_string())?;
                rgba(still.next_frame().map_err(|e| e.to_string())?)
            }
            BackgroundSpec::Video { path } => {
                let mut clip = source::file::open(path, size).map_err(|e| e.to_string())?;
                let first = rgba(clip.next_frame().map_err(|e| e.to_string())?);
                self.clip = Some((generation, clip));
                first
            }
            BackgroundSpec::None | BackgroundSpec::Blur { .. } => {
                Err(format!("{spec} has no picture"))
            }
        }
    }

    fn next_clip_frame(&mut self, generation: u64) -> Option<Result<Vec<u8>, String>> {
        match self.clip.as_mut() {
            Some((g, clip)) if *g == generation => {
                Some(clip.next_frame().map_err(|e| e.to_string()).and_then(rgba))
            }
            // A newer request replaced the clip: nobody waits for this frame.
            _ => None,
        }
    }

    fn run(mut self, jobs: mpsc::Receiver<Job>, done: mpsc::Sender<Done>) {
        while let Ok(job) = jobs.recv() {
            let reply = match job {
                Job::Picture {
                    generation,
                    spec,
                    size,
                } => Some(Done::Picture {
                    generation,
                    result: self.picture(generation, &spec, size),
                }),
                Job::NextClipFrame { generation } => self
                    .next_clip_frame(generation)
                    .map(|result| Done::Picture { generation, result }),
                Job::Lut { path } => Some(Done::Lut {
                    result: Lut3d::load(&path).map_err(|e| e.to_string()),
                    path,
                }),
            };
            if let Some(reply) = reply {
                if done.send(reply).is_err() {
                    return;
                }
            }
        }
    }
}

impl Loader {
    /// Starts the worker thread.
    pub fn start() -> std::io::Result<Loader> {
        let (jobs, jobs_rx) = mpsc::channel();
        let (done_tx, done) = mpsc::channel();
        let thread = std::thread::Builder::new()
            .name("effects-loader".into())
            .spawn(move || Worker { clip: None }.run(jobs_rx, done_tx))?;
        Ok(Loader {
            jobs: Some(jobs),
            done,
            thread: Some(thread),
        })
    }

    fn send(&self, job: Job) -> Result<(), String> {
        self.jobs
            .as_ref()
            .and_then(|j| j.send(job).ok())
            .ok_or_else(|| "the effects loader thread has stopped".to_string())
    }

    /// Asks for the picture of `spec` at `size`, answered as `generation`.
    pub fn picture(
        &self,
        generation: u64,
        spec: &BackgroundSpec,
        size: Size,
    ) -> Result<(), String> {
        self.send(Job::Picture {
            generation,
            spec: spec.clone(),
            size,
        })
    }

    /// Asks for the next frame of the clip of `generation`.
    pub fn next_clip_frame(&self, generation: u64) -> Result<(), String> {
        self.send(Job::NextClipFrame { generation })
    }

    /// Asks for the LUT at `path`.
    pub fn lut(&self, path: &Path) -> Result<(), String> {
        self.send(Job::Lut {
            path: path.to_path_buf(),
        })
    }

    /// A finished job, without waiting.
    pub fn try_done(&self) -> Option<Done> {
        self.done.try_recv().ok()
    }

    /// A finished job, waiting until `deadline` at most.
    pub fn done_by(&self, deadline: Instant) -> Option<Done> {
        let left = deadline.saturating_duration_since(Instant::now());
        self.done.recv_timeout(left).ok()
    }
}

impl Drop for Loader {
    fn drop(&mut self) {
        // Closing the job channel ends the worker after its current job.
        self.jobs = None;
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn wait(loader: &Loader) -> Done {
        loader
            .done_by(Instant::now() + Duration::from_secs(30))
            .expect("an answer")
    }

    #[test]
    fn scenes_are_drawn_at_the_size_asked_for() {
        let loader = Loader::start().expect("thread");
        let size = Size::new(64, 36);
        let spec = BackgroundSpec::Scene {
            name: "moon".into(),
        };
        loader.picture(7, &spec, size).expect("send");
        match wait(&loader) {
            Done::Picture { generation, result } => {
                assert_eq!(generation, 7);
                let pic = result.expect("drawn");
                assert_eq!(pic.len(), size.pixels() * 4);
                assert!(
                    pic.chunks(4).any(|p| p[..3] != pic[..3]),
                    "not one flat colour"
                );
            }
            other => panic!("{other:?}"),
        }
    }

    #[test]
    fn a_clip_gives_one_frame_per_request_and_stops_when_replaced() {
        let dir = tempfile::tempdir().expect("tmp");
        let path = dir.path().join("clip.y4m");
        // Three 8x8 grey frames of rising brightness.
        let mut bytes = b"YUV4MPEG2 W8 H8 F30:1 Ip A1:1 C420jpeg\n".to_vec();
        for luma in [40u8, 120, 200] {
            bytes.extend_from_slice(b"FRAME\n");
            bytes.extend(std::iter::repeat_n(luma, 64));
            bytes.extend(std::iter::repeat_n(128u8, 32));
        }
        std::fs::write(&path, bytes).expect("write");
        let loader = Loader::start().expect("thread");
        let spec = BackgroundSpec::Video { path: path.clone() };
        let size = Size::new(8, 8);
        loader.picture(1, &spec, size).expect("send");
        let mut firsts = Vec::new();
        for i in 0..3 {
            if i > 0 {
                loader.next_clip_frame(1).expect("send");
            }
            match wait(&loader) {
                Done::Picture {
                    generation: 1,
                    result,
                } => firsts.push(result.expect("frame")[0]),
                other => panic!("{other:?}"),
            }
        }
        assert!(firsts[0] < firsts[1] && firsts[1] < firsts[2], "{firsts:?}");
        // A newer request replaces the clip: a frame asked for the old one never comes.
        loader
            .picture(
                2,
                &BackgroundSpec::Scene {
                    name: "moon".into(),
                },
                size,
            )
            .expect("send");
        loader.next_clip_frame(1).expect("send");
        assert!(matches!(wait(&loader), Done::Picture { generation: 2, .. }));
        assert!(loader
            .done_by(Instant::now() + Duration::from_millis(200))
            .is_none());
    }

    #[test]
    fn bad_files_are_errors_with_their_path() {
        let loader = Loader::start().expect("thread");
        let dir = tempfile::tempdir().expect("tmp");
        let bad = dir.path().join("bad.cube");
        std::fs::write(&bad, "LUT_3D_SIZE 4\n0 0 0\n").expect("write");
        loader.lut(&bad).expect("send");
        match wait(&loader) {
            Done::Lut { path, result } => {
                assert_eq!(path, bad);
                let e = result.expect_err("bad lut");
                assert!(e.contains("bad.cube"), "{e}");
            }
            other => panic!("{other:?}"),
        }
        let missing = BackgroundSpec::Image {
            path: dir.path().join("missing.png"),
        };
        loader.picture(3, &missing, Size::new(8, 8)).expect("send");
        match wait(&loader) {
            Done::Picture {
                generation: 3,
                result,
            } => {
                assert!(result.expect_err("missing").contains("missing.png"));
            }
            other => panic!("{other:?}"),
        }
    }
}
