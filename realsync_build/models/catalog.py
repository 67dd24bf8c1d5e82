"""The catalogue of models: official URLs, file names, hashes and licences (data only).

:mod:`realsync_build.models.registry` finds, checks and downloads these files; this module
only says what they are. Hash kinds are explained there.
"""

from __future__ import annotations

from dataclasses import dataclass

SHA256 = "sha256"
SHA256_PREFIX = "sha256-prefix"
MD5 = "md5"
MD5_PREFIX = "md5-prefix"
RECORDED = "recorded"
HASH_KINDS = (SHA256, SHA256_PREFIX, MD5, MD5_PREFIX, RECORDED)


@dataclass(frozen=True)
class ModelFile:
    """One file of a model, at ``<models dir>/<folder>/<file>``."""

    folder: str
    file: str
    url: str
    hash_kind: str
    digest: str | None = None  # hex; None only for RECORDED

    @property
    def rel(self) -> str:
        return f"{self.folder}/{self.file}"


@dataclass(frozen=True)
class ModelEntry:
    name: str
    kind: str  # face-detector | sync-scorer | sync-predictor | event-tagger | labels
    licence: str
    description: str
    files: tuple[ModelFile, ...]
    size_hint: str = ""
    needs: tuple[str, ...] = ()  # other entries this model cannot run without (fetched with it)

    @property
    def main(self) -> ModelFile:
        return self.files[0]


def _sync_and_face_entries() -> list[ModelEntry]:
    """SyncNet (the sync scorer) and S3FD (a face detector)."""
    return [
        ModelEntry(
            "syncnet",
            "sync-scorer",
            "MIT",
            "SyncNet v2 lip-sync network (lip tower on 5 face crops, audio tower on MFCC)",
            (ModelFile("syncnet", "syncnet_v2.model", "http://www.robots.ox.ac.uk/~vgg/software/lipsync/data/syncnet_v2.model", RECORDED),),
            "52 MB",
        ),
        ModelEntry(
            "s3fd",
            "face-detector",
            "BSD-3-Clause",
            "S3FD face detector as shipped by face-alignment",
            (
                ModelFile(
                    "s3fd",
                    "s3fd-619a316812.pth",
                    "https://www.adrianbulat.com/downloads/python-fan/s3fd-619a316812.pth",
                    SHA256_PREFIX,
                    "619a316812",
                ),
            ),
            "86 MB",
        ),
    ]


def _panns_entries() -> list[ModelEntry]:
    """The PANNs event taggers (they need the AudioSet labels)."""
    zenodo = "https://zenodo.org/records/3987831/files/"
    return [
        ModelEntry(
            "panns-cnn14-16k",
            "event-tagger",
            "CC-BY-4.0",
            "PANNs Cnn14 trained at 16 kHz (AudioSet, 527 classes, mAP 0.438)",
            (ModelFile("panns", "Cnn14_16k_mAP=0.438.pth", zenodo + "Cnn14_16k_mAP%3D0.438.pth?download=1", MD5, "362fc5ff18f1d6ad2f6d464b45893f2c"),),
            "327 MB",
            needs=("audioset-labels",),
        ),
        ModelEntry(
            "panns-cnn14",
            "event-tagger",
            "CC-BY-4.0",
            "PANNs Cnn14 trained at 32 kHz (AudioSet, 527 classes, mAP 0.431)",
            (
                ModelFile(
                    "panns",
                    "Cnn14_mAP=0.431.pth",
                    zenodo + "Cnn14_mAP%3D0.431.pth?download=1",
                    SHA256,
                    "0dc499e40e9761ef5ea061ffc77697697f277f6a960894903df3ada000e34b31",
                ),
            ),
            "327 MB",
            needs=("audioset-labels",),
        ),
    ]


def _blazeface_entries() -> list[ModelEntry]:
    """The BlazeFace face detectors, each with its anchors."""
    hollance = "https://github.com/hollance/BlazeFace-PyTorch/blob/master/"  # face-alignment's own URLs
    return [
        ModelEntry(
            "blazeface",
            "face-detector",
            "Apache-2.0",
            "BlazeFace front camera model (128 px input) + its anchors",
            (
                ModelFile("blazeface", "blazeface.pth", hollance + "blazeface.pth?raw=true", SHA256, "54ecff653feaaaf1f7d44b6aff28fd2fc50e483a4e847563b6dd261369c43ba4"),
                ModelFile("blazeface", "anchors.npy", hollance + "anchors.npy?raw=true", SHA256, "a10bb2fb93ab54ca426d6c750bfc3aad685028a16dcf231357d03694f261fd95"),
            ),
            "0.4 MB",
        ),
        ModelEntry(
            "blazeface-back",
            "face-detector",
            "Apache-2.0",
            "BlazeFace back camera model (256 px input, small and far faces) + its anchors",
            (
                ModelFile("blazeface", "blazefaceback.pth", hollance + "blazefaceback.pth?raw=true", SHA256, "e2c03bb3ae45e769eaaa0a7cc7d4f61f54a5e3fbae6367d870166702e7022b11"),
                ModelFile("blazeface", "anchorsback.npy", hollance + "anchorsback.npy?raw=true", SHA256, "a10bb2fb93ab54ca426d6c750bfc3aad685028a16dcf231357d03694f261fd95"),
            ),
            "0.6 MB",
        ),
    ]


def _yamnet_and_label_entries() -> list[ModelEntry]:
    """YAMNet (an event tagger) and the AudioSet labels."""
    audioset_csv = ModelFile(
        "audioset",
        "class_labels_indices.csv",
        "http://storage.googleapis.com/us_audioset/youtube_corpus/v1/csv/class_labels_indices.csv",
        RECORDED,
    )
    return [
        ModelEntry(
            "yamnet",
            "event-tagger",
            "Apache-2.0",
            "YAMNet AudioSet tagger (521 classes) as TFLite, input 15600 samples at 16 kHz",
            (
                ModelFile(
                    "yamnet",
                    "yamnet.tflite",
                    "https://storage.googleapis.com/tfhub-lite-models/google/lite-model/yamnet/classification/tflite/1.tflite",
                    SHA256,
                    "469be6a3421cbc52cf97e9f2f966cba984198e8e7af9854d68b3e3ebb1e04194",
                ),
                ModelFile(
                    "yamnet",
                    "yamnet_class_map.csv",
                    "https://raw.githubusercontent.com/tensorflow/models/master/research/audioset/yamnet/yamnet_class_map.csv",
                    RECORDED,
                ),
            ),
            "4 MB",
        ),
        ModelEntry(
            "audioset-labels",
            "labels",
            "CC-BY-4.0",
            "The 527 AudioSet class labels in PANNs' order (also seeds ~/panns_data for panns-inference)",
            (audioset_csv,),
            "15 kB",
        ),
    ]


def entries() -> dict[str, ModelEntry]:
    """Every model the registry knows, by name (in this order: `realsync models list`)."""
    items = [*_sync_and_face_entries(), *_panns_entries(), *_blazeface_entries(), *_yamnet_and_label_entries()]
    items += sparsesync_entries()
    return {e.name: e for e in items}


# The public 21-class SparseSync checkpoints (v-iashin/SparseSync README, "Pre-trained
# models"): run id, what it was trained on, the md5 the README publishes (its first 7 hex digits).
SPARSESYNC_A3S = "https://a3s.fi/swift/v1/AUTH_a235c0f452d648828f745589cde1219a/sync/sync_models/"
SPARSESYNC_CHECKPOINTS = (
    ("sparsesync-lrs3", "22-07-13T22-25-49", "63f883e", "LRS3 ('No Face Crop'), 21 classes (acc 96.9 on LRS3)"),
    ("sparsesync-vggsound-sparse", "22-07-28T15-49-45", "a26f207",
     "LRS3 -> VGGSound-Sparse, 21 classes (acc 44.3); StreamSync's starting point and the default"),
    ("sparsesync-vggsound", "22-09-21T21-00-52", "83fba5f", "LRS3 -> VGGSound, 21 classes (acc 51.2)"),
    ("sparsesync-audioset", "23-02-26T22-31-22", "d3c40b4", "LRS3 -> AudioSet, 21 classes (acc 56.7)"),
)
DEFAULT_SPARSESYNC = "sparsesync-vggsound-sparse"


def sparsesync_entries() -> list[ModelEntry]:
    """Checkpoint (md5 prefix as published) + its ``cfg-*.yaml`` (nothing published: sha256 recorded)."""
    out = []
    for name, run, md5_prefix, what in SPARSESYNC_CHECKPOINTS:
        out.append(
            ModelEntry(
                name,
                "sync-predictor",
                "MIT",  # v-iashin/SparseSync; the training data (LRS3, VGGSound, AudioSet) has its own terms
                f"SparseSync {run}: {what} (MIT code; trained on research datasets with their own terms)",
                (
                    ModelFile("sparsesync", f"{run}.pt", f"{SPARSESYNC_A3S}{run}/{run}.pt", MD5_PREFIX, md5_prefix),
                    ModelFile("sparsesync", f"cfg-{run}.yaml", f"{SPARSESYNC_A3S}{run}/cfg-{run}.yaml", RECORDED),
                ),
                "",
            )
        )
    return out
