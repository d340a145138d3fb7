#!/usr/bin/env python3
"""MediaPipe's side of the face-recall benchmark (daemon/benches/face_recall.rs).

Reads a list of `PNG x0 y0 x1 y1` lines (the picture and its true face box
in pixels) and, for each picture on its own, asks MediaPipe's short-range
face detector, its full-range detector and its face mesh (static images)
whether they find that face: a face counts when its box's centre lies in
the true box and its width is within a factor of two of the true width,
the rule the Rust side uses for ours.

Prints `case NAME SHORT FULL MESH` per picture, each 1 or 0.
Not a test dependency: `pip install mediapipe==0.10.21 opencv-python-headless`.
"""
import sys

import cv2
import mediapipe as mp


def centred(found, truth):
    fx0, fy0, fx1, fy1 = found
    tx0, ty0, tx1, ty1 = truth
    cx, cy = (fx0 + fx1) / 2, (fy0 + fy1) / 2
    fw, tw = fx1 - fx0, tx1 - tx0
    return tx0 <= cx <= tx1 and ty0 <= cy <= ty1 and tw / 2 < fw < tw * 2


def detector_hit(det, rgb, truth):
    h, w = rgb.shape[:2]
    res = det.process(rgb)
    for d in res.detections or []:
        b = d.location_data.relative_bounding_box
        box = (b.xmin * w, b.ymin * h, (b.xmin + b.width) * w, (b.ymin + b.height) * h)
        if centred(box, truth):
            return True
    return False


def mesh_hit(mesh, rgb, truth):
    h, w = rgb.shape[:2]
    res = mesh.process(rgb)
    for face in res.multi_face_landmarks or []:
        xs = [p.x * w for p in face.landmark]
        ys = [p.y * h for p in face.landmark]
        if centred((min(xs), min(ys), max(xs), max(ys)), truth):
            return True
    return False


def main():
    fd = mp.solutions.face_detection
    short = fd.FaceDetection(model_selection=0, min_detection_confidence=0.5)
    full = fd.FaceDetection(model_selection=1, min_detection_confidence=0.5)
    mesh = mp.solutions.face_mesh.FaceMesh(
        static_image_mode=True, max_num_faces=1, min_detection_confidence=0.5
    )
    with open(sys.argv[1]) as f:
        for line in f:
            path, *box = line.split()
            truth = tuple(float(v) for v in box)
            rgb = cv2.cvtColor(cv2.imread(path), cv2.COLOR_BGR2RGB)
            hits = [
                detector_hit(short, rgb, truth),
                detector_hit(full, rgb, truth),
                mesh_hit(mesh, rgb, truth),
            ]
            name = path.rsplit("/", 1)[-1]
            print("case", name, *(int(h) for h in hits), flush=True)


if __name__ == "__main__":
    main()
