#pragma once
// Subcommands implemented outside main.cc.
#include <cstdint>
#include <string>
#include <vector>

namespace dyn4d::pipeline {
class Params;
struct RgbdFrame;
}  // namespace dyn4d::pipeline
namespace dyn4d::io {
struct DepthCalibrationView;
}  // namespace dyn4d::io

namespace dyn4d::cli {

struct TransportBenchOptions {
  int batch = 20;            ///< frames per batch (sent, then all received)
  double min_time_s = 0.05;  ///< seconds per trial
  int repetitions = 61;      ///< rounds of paired trials; figures are medians
  std::string filter;        ///< regex over the edge kinds (inproc, ipc, tcp)
};

struct SynthOptions {
  std::string out_dir = "out/synth";
  int frames = 90;
  int width = 640, height = 480;
  int objects = 5;
  int seed = 1;
  bool noise = true;
};
/// `dyn4d synth`: writes a synthetic RGB-D sequence with ground truth.
int RunSynth(const SynthOptions& options);

struct StereoEvalOptions {
  std::string dataset = "aloe";  ///< aloe or motorcycle
  std::string shared_dir;        ///< ../shared by default (or $DYN4D_SHARED)
  int num_disparities = 0;       ///< 0: per dataset
  bool wls = true;
};
/// `dyn4d eval stereo`: Middlebury bad-pixel rate of the stereo depth.
int RunStereoEval(const StereoEvalOptions& options);

struct IoBenchOptions {
  std::string shared_dir;
  double min_time_s = 1.0;
};
/// `dyn4d bench io`: frames/s reading the TUM excerpt and rendering synth.
int RunIoBench(const IoBenchOptions& options);

struct ColorCalibrationOptions {
  std::string path;
  std::string kind = "auto";
  int frames = 30;  ///< frames used
  int every = 10;   ///< take every Nth frame (views from different places)
};
/// `dyn4d calibrate color`: the colour camera of unregistered RGB-D data.
int RunColorCalibration(const ColorCalibrationOptions& options);

struct DepthCalibrationOptions {
  std::string path;
  std::string kind = "auto";
  int start = 0;     ///< frames skipped first (to reach a stretch with nothing moving)
  int frames = 150;  ///< consecutive frames used (5 s at 30 Hz): the more, the steadier the fit
};
/// `dyn4d calibrate depth`: the depth sensor's distortion, from its own data.
int RunDepthCalibration(const DepthCalibrationOptions& options);

struct GeometryBenchOptions {
  std::string dataset = "7scenes_redkitchen";  ///< a folder under ../shared/data
  std::string shared_dir;
  int max_frames = 0;
  bool skip_open3d = false;
  std::vector<std::string> params;         ///< KEY=VALUE, the geometry node's tracking parameters
  std::vector<std::string> source_params;  ///< KEY=VALUE, the input node's colour registration
  std::string save_dir;                    ///< write TUM trajectories here when set
  bool verbose = false;                    ///< print each lost frame and why
};
/// `dyn4d bench geometry`: dyn4d tracking vs Open3D's odometry, same frames.
int RunGeometryBench(const GeometryBenchOptions& options);

struct DynamicBenchOptions {
  std::string shared_dir;
  std::vector<std::string> sequences;  ///< empty: tum_fr1_rpy, 7scenes_redkitchen, bonn_crowd
  std::string save_dir;                ///< each sequence's graph outputs go to SAVE/<sequence>
  std::string yolox;                   ///< person boxes (pseudo ground truth); default ../shared's
  std::string config;                  ///< the graph measured; empty: the default (offline.yaml)
  bool skip_open3d = false;
  /// > 1: the camera tracking alone also from this many starts (0, 5, 10, ...
  /// frames later) of each sequence with ground truth: ATE per start and
  /// the median.
  int starts = 1;
};
/// `dyn4d bench dynamic`: the default graph on real RGB-D sequences: phantom
/// moving tracks on static scenes; camera ATE vs Open3D, moving tracks,
/// person coverage and people in the map on Bonn crowd.
int RunDynamicBench(const DynamicBenchOptions& options);

struct TrajectoryEvalOptions {
  std::string gt, est;
  double max_dt_s = 0.02;
  int delta = 1;
};
/// `dyn4d eval traj`: ATE (rigidly aligned) and RPE of a TUM trajectory.
int RunTrajectoryEval(const TrajectoryEvalOptions& options);

struct RecognizeParityOptions {
  std::string ref_dir;  ///< folder with state_dict.pt, io.pt, flops.txt
  std::string config = "mobilenetV3_0x75_perceiver_t128";
  int threads = 0;  ///< torch threads, 0 = all cores
};
/// `dyn4d recognize parity`: the LibTorch Dyn-Perceiver against outputs of
/// the official PyTorch code; exit 0 when every exit is within 1e-4.
int RunRecognizeParity(const RecognizeParityOptions& options);
/// `dyn4d recognize flops`: cumulative GFLOPs per exit of a configuration.
int RunRecognizeFlops(const std::string& config);

struct RecognitionLatencyOptions {
  std::string config = "mobilenetV3_0x75_perceiver_t128";
  std::string weights;  ///< optional state_dict .pt (timing does not depend on values)
  int threads = 0;
  int warmup = 10, runs = 50;
  bool fold_batchnorm = true;  ///< PrepareInference (fold BN, Eigen latent branch, NHWC)
  bool channels_last = true;   ///< NHWC convolutions (part of PrepareInference)
};
struct RecognitionBenchOptions {
  std::string models_dir;  ///< holds fashion_mnist_{dyn_perceiver,linear_exits,static}.yaml
  std::string data_dir;    ///< Fashion-MNIST folder
  std::string plot = "bench/recognition.png";
  int latency_images = 1000;  ///< test images timed one by one and in batches of 32
  int threads = 0;
};
/// `dyn4d bench recognition`: accuracy, accuracy-vs-GFLOPs curves, latency
/// and throughput of dynamic vs static inference; last line
/// speedup_at_equal_accuracy.
int RunRecognitionBench(const RecognitionBenchOptions& options);

struct TeacherBenchOptions {
  std::string teacher;                 ///< YOLOX .onnx
  std::string model_file;              ///< the recognizer trained with that teacher
  std::string shared_dir;              ///< for the default held-out sequences
  std::vector<std::string> sequences;  ///< held-out inputs (default: 7-Scenes, MOT17-10/11/13)
  double score = 0.5;
  int every = 1, max_frames = 0;
  int threads = 0;
  int teacher_every = 30;  ///< the teacher's looks at run time (0: never)
};
/// `dyn4d bench recognition --teacher`: agreement with the teacher on
/// held-out sequences per exit and dynamic, exit histogram, latencies; last
/// lines cost_ratio_vs_teacher and teacher_agreement.
int RunTeacherBench(const TeacherBenchOptions& options);

/// `dyn4d bench recognition --latency`: batch-1 latency of the full forward,
/// of the paths stopping after exits 1-3, and of the plain backbone.
int RunRecognitionLatencyBench(const RecognitionLatencyOptions& options);

/// ../shared or $DYN4D_SHARED; empty if neither exists.
std::string FindSharedDir(const std::string& given);

/// The RGB-D frames a calibration command (`calibrate color`, `calibrate
/// depth`) works on: after `skip` frames, every `every`th, at most `count`.
/// 0, or the exit code after printing why to stderr as "dyn4d COMMAND: ..."
/// (a source that cannot open, frames without depth). `described` gets the
/// source's description.
int ReadCalibrationFrames(const std::string& command, const std::string& path,
                          const std::string& kind, int skip, int every, int count,
                          std::vector<pipeline::RgbdFrame>* frames, std::string* described);

/// Starting poses for io::CalibrateDepthDistortion: the first `count` of
/// `frames` tracked as the default graph's geometry node tracks them (a
/// progress bar on stderr). Lost frames are left out and counted in `lost`;
/// the views point into `frames`.
std::vector<io::DepthCalibrationView> TrackedCalibrationViews(
    const std::vector<pipeline::RgbdFrame>& frames, size_t count, int* lost);

struct PipelineBenchOptions {
  std::string shared_dir;  ///< ../shared by default (or $DYN4D_SHARED)
  std::string config;      ///< graph; empty: the default for RGB-D (configs/offline.yaml)
  std::string save_dir;    ///< keep the runs' outputs there (default: a temp folder)
  int frames = 90;         ///< synthetic frames per case
  int paced_repeats = 3;   ///< runs of each paced graph (offline, live), alternating; medians
  /// > 0: instead, one long synthetic run of this many frames (160x120):
  /// memory and open files sampled every second, their slope after warm-up.
  int long_frames = 0;
  /// The long run's caps (0: the graph's own): the point map's points and
  /// the cognitive map's history (stream seconds), small so that they fill
  /// early and most of the run is steady state.
  int long_map_points = 400000;
  double long_history_s = 60;
  int long_overlay_frames = 1000;  ///< the overlay video's frames per file
};
/// `dyn4d bench pipeline`: the default graph end to end on real and
/// synthetic RGB-D; last line `pipeline_fps <median over the real sequences>`.
int RunPipelineBench(const PipelineBenchOptions& options);

/// Applies command-line KEY=VALUE pairs (--param, --input-param, ...) to
/// `params`; throws pipeline::ConfigError "FLAG 'kv': expected KEY=VALUE".
void OverrideParams(pipeline::Params& params, const std::string& flag,
                    const std::vector<std::string>& key_values);

/// `dyn4d bench transport`: throughput of 640x480 RGB-D frames through one
/// dyn4d edge and a bare cppzmq loop over inproc, ipc and tcp.
int RunTransportBench(const TransportBenchOptions& options);

struct TrainOptions {
  std::string model_file;  ///< configs/models/*.yaml
  std::string out_dir;     ///< checkpoints; default out/train/<model file stem>
  /// Fashion-MNIST IDX folder (default Debian's), an image folder, or the
  /// videos/frame folders a teacher labels (dataset: teacher).
  std::vector<std::string> data;
  std::string teacher;         ///< dataset: teacher: the YOLOX .onnx
  double teacher_score = 0.5;  ///< its score threshold
  int teacher_every = 1;       ///< label every N-th frame
  int epochs = 0;              ///< 0: the model file's training.epochs
  int64_t max_steps = 0;       ///< stop early (tests, smoke runs)
  int threads = 0;
  bool no_install = false;  ///< keep the weights in out_dir, do not overwrite the model's
};
/// `dyn4d train`: trains a model file's network on Fashion-MNIST (resumes).
int RunTrain(const TrainOptions& options);

struct CalibrateOptions {
  std::string model_file;
  std::vector<std::string> data;  ///< as TrainOptions::data
  std::string teacher;
  double teacher_score = 0.5;
  int teacher_every = 1;
  double budget_gflops = 0;  ///< expected GFLOPs per image
  double budget_ms = 0;      ///< or expected batch-1 latency per image
  int threads = 0;
  bool dry_run = false;  ///< print, do not write the thresholds
};
/// `dyn4d recognize calibrate`: early-exit thresholds for a budget, written
/// into the model file.
int RunRecognizeCalibrate(const CalibrateOptions& options);

struct LabelOptions {
  std::string teacher;               ///< YOLOX .onnx
  std::vector<std::string> inputs;   ///< videos, frame folders, datasets (any --input)
  std::string out_dir;               ///< OUT/<class>/<input>_<frame>_<k>.png
  double score = 0.5;                ///< teacher score threshold
  std::vector<std::string> classes;  ///< keep only these teacher classes (empty: all)
  int every = 1;                     ///< label every N-th frame
  int max_frames = 0;                ///< per input, 0 = all
  int min_size_px = 16;              ///< smaller boxes are no usable crop
};
int RunLabel(const LabelOptions& options);

struct MotEvalOptions {
  std::vector<std::string> gt, res;  ///< one pair per sequence
  double iou = 0.5;
};
/// `dyn4d eval mot`: CLEAR-MOT and IDF1 (MOTChallenge devkit conventions).
int RunMotEval(const MotEvalOptions& options);

struct TrackingBenchOptions {
  std::string mot15_dir;                    ///< folders with det/det.txt and gt/gt.txt
  std::string mot17_dir;                    ///< MOT17 sequences (img1/, det/, gt/), or their train/
  std::string out_dir = "out/bench_mot17";  ///< the RGB-only graph's outputs per sequence
};
/// `dyn4d bench tracking --mot15 DIR`: dyn4d's tracker vs SORT on public
/// detections; last line hota_gain_vs_sort.
int RunTrackingBench(const TrackingBenchOptions& options);
/// `dyn4d bench tracking --mot17 DIR`: the RGB-only default graph (no
/// detections) next to the tracker on public detections; last lines
/// hota_rgb_only and hota_public_detections.
int RunMot17Bench(const TrackingBenchOptions& options);

struct SynthTrackingBenchOptions {
  std::vector<uint32_t> seeds{1};  ///< synthetic scenes (seed 1 = the embedded default)
  int frames = 90;
  int objects = 3;
  int lookahead = 45;     ///< frames of lookahead for the proposals' references
  bool gt_poses = false;  ///< true: ground-truth camera poses instead of dyn4d's odometry
  std::string model;      ///< recognition model file; empty: the shipped synthetic model
  int threads = 0;        ///< torch threads; 0: all cores
};
/// `dyn4d bench tracking --synth`: the full RGB-D path (odometry, geometric
/// proposals, recognition, 3D tracker) on synthetic scenes with exact ground
/// truth; last line `hota_synth <value>`.
int RunSynthTrackingBench(const SynthTrackingBenchOptions& options);

struct ReasoningBenchOptions {
  std::vector<uint32_t> seeds{1, 2, 3, 4, 5, 6, 7, 8, 9, 10, 11, 12};
  int frames = 90;
  int objects = 4;
  int lookahead = 45;
  std::string model;  ///< recognition model; empty: the synthetic-objects one
  int threads = 0;
  bool verbose = false;  ///< print every wrong answer with its justification
};
/// `dyn4d bench reasoning`: questions with known answers from synthetic
/// ground truth, answered from maps of ground-truth and of pipeline tracks;
/// last line `qa_accuracy_pipeline <value>`.
int RunReasoningBench(const ReasoningBenchOptions& options);

}  // namespace dyn4d::cli
