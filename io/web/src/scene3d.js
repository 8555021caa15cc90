// The 3D view (three.js): the static map's points, the per-frame cloud, the
// camera path and its pose, object boxes and trajectories. dyn4d's world is
// the first camera's frame (x right, y down, z ahead); the root turns it to
// three's y-up.
import * as THREE from "three";
import { OrbitControls } from "three/examples/jsm/controls/OrbitControls.js";
import { trackColor } from "./common.js";

export class Scene3D {
  constructor(container) {
    this.renderer = new THREE.WebGLRenderer({ antialias: true, preserveDrawingBuffer: true });
    this.renderer.setPixelRatio(window.devicePixelRatio || 1);
    this.renderer.setClearColor(0x0d1014);
    container.append(this.renderer.domElement);
    this.container = container;
    this.scene = new THREE.Scene();
    this.root = new THREE.Group();
    this.root.rotation.x = Math.PI;
    this.scene.add(this.root);
    this.scene.add(new THREE.GridHelper(20, 20, 0x2c323d, 0x1d2129));
    this.camera = new THREE.PerspectiveCamera(55, 1, 0.05, 200);
    this.camera.position.set(0, 3, 4);
    this.controls = new OrbitControls(this.camera, this.renderer.domElement);
    this.objects = new THREE.Group();
    this.root.add(this.objects);
    this.fitted = false;
    this.layers = {};
    const loop = () => {
      this.resize();
      this.controls.update();
      this.renderer.render(this.scene, this.camera);
      requestAnimationFrame(loop);
    };
    requestAnimationFrame(loop);
  }

  resize() {
    const w = this.container.clientWidth, h = this.container.clientHeight;
    if (this.size === `${w}x${h}` || !w || !h) return;
    this.size = `${w}x${h}`;
    this.renderer.setSize(w, h, false);
    this.renderer.domElement.style.width = "100%";
    this.renderer.domElement.style.height = "100%";
    this.camera.aspect = w / h;
    this.camera.updateProjectionMatrix();
  }

  replace(name, object) {
    if (this.layers[name]) {
      this.root.remove(this.layers[name]);
      this.layers[name].geometry?.dispose();
    }
    this.layers[name] = object;
    if (object) this.root.add(object);
  }

  // xyz: Float32Array (world), rgb: Uint8Array or null.
  setPoints(name, xyz, rgb, size = 0.02) {
    const g = new THREE.BufferGeometry();
    g.setAttribute("position", new THREE.BufferAttribute(xyz, 3));
    if (rgb) g.setAttribute("color", new THREE.BufferAttribute(rgb, 3, true));
    const m = new THREE.PointsMaterial({ size, vertexColors: !!rgb, color: rgb ? 0xffffff : 0x8899aa });
    this.replace(name, new THREE.Points(g, m));
    if (name === "map") this.fit(xyz);
  }

  setLine(name, points, color, dashed = false) {
    if (points.length < 2) return this.replace(name, null);
    const g = new THREE.BufferGeometry().setFromPoints(points.map((p) => new THREE.Vector3(p[0], p[1], p[2])));
    const m = dashed ? new THREE.LineDashedMaterial({ color, dashSize: 0.05, gapSize: 0.05 }) : new THREE.LineBasicMaterial({ color });
    const line = new THREE.Line(g, m);
    if (dashed) line.computeLineDistances();
    this.replace(name, line);
    if (!this.fitted) this.fit(new Float32Array(points.flatMap((p) => [p[0], p[1], p[2]])));
  }

  // The camera as a small frustum at position t, orientation q (x, y, z, w).
  setCamera(t, q) {
    if (!this.frustum) {
      const s = 0.15, v = [[0, 0, 0], [-s, -0.75 * s, s * 1.5], [s, -0.75 * s, s * 1.5], [s, 0.75 * s, s * 1.5], [-s, 0.75 * s, s * 1.5]];
      const e = [0, 1, 0, 2, 0, 3, 0, 4, 1, 2, 2, 3, 3, 4, 4, 1];
      const g = new THREE.BufferGeometry().setFromPoints(e.map((i) => new THREE.Vector3(...v[i])));
      this.frustum = new THREE.LineSegments(g, new THREE.LineBasicMaterial({ color: 0x5fb3f9 }));
      this.root.add(this.frustum);
    }
    this.frustum.position.set(t[0], t[1], t[2]);
    this.frustum.quaternion.set(q[0], q[1], q[2], q[3]);
  }

  // Objects: [{id, center [x,y,z], size [x,y,z], track [[x,y,z]...]}].
  setObjects(objects) {
    for (const c of [...this.objects.children]) {
      this.objects.remove(c);
      c.geometry?.dispose();
    }
    for (const o of objects) {
      const color = new THREE.Color(...trackColor(o.id));
      if (o.center && o.size) {
        const box = new THREE.LineSegments(new THREE.EdgesGeometry(new THREE.BoxGeometry(...o.size.map((s) => Math.max(0.02, s)))),
          new THREE.LineBasicMaterial({ color }));
        box.position.set(...o.center);
        this.objects.add(box);
      }
      if (o.track && o.track.length >= 2) {
        const g = new THREE.BufferGeometry().setFromPoints(o.track.map((p) => new THREE.Vector3(p[0], p[1], p[2])));
        this.objects.add(new THREE.Line(g, new THREE.LineBasicMaterial({ color })));
      }
    }
  }

  // Looks at what `xyz` spans (once, when the first data arrives).
  fit(xyz) {
    if (this.fitted || xyz.length < 3) return;
    const box = new THREE.Box3();
    const v = new THREE.Vector3();
    for (let i = 0; i < xyz.length; i += 3) box.expandByPoint(v.set(xyz[i], -xyz[i + 1], -xyz[i + 2]));
    const center = box.getCenter(new THREE.Vector3());
    const radius = Math.max(1, box.getSize(new THREE.Vector3()).length() / 2);
    this.controls.target.copy(center);
    this.camera.position.set(center.x, center.y + radius * 1.2, center.z + radius * 1.6);
    this.camera.lookAt(center);
    this.fitted = true;
  }
}
