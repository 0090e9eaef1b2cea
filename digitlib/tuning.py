"""Every tuned number of the serving path that can change an answer, in one place.

The stages (:mod:`digitlib.stages`), the decision cascade (:mod:`digitlib.cascade`) and the
reader of numbers (:mod:`digitlib.segment`) read their thresholds from :data:`TUNING` and define
none of their own. Each value says what it does and, where it was tuned, on what it was measured.
"Development uploads" are :mod:`digitlib.synth` photos, drawings and crops of MNIST test digits
on development seeds; "held-out non-digits" are :func:`digitlib.gate.evaluation_negatives`.
Nothing here is tuned on the benchmark's own sets (``benchmarks/``).

To try another value, make a changed copy (``dataclasses.replace``) and give it to
:class:`digitlib.Recognizer` (``tuning=``) for the cascade's numbers; the stages read the
module's :data:`TUNING`.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass(frozen=True)
class Look:
    """One look at an upload: how large an image the page stages work on, and how they estimate
    the paper's level there."""

    work_side: int  # the stages work on an image whose long side is at most this
    grain: int  # the paper level is estimated on an image with a short side of about this
    envelope: float  # the shadow-following paper level is this many pen widths wide (0: off)
    uint8: bool = False  # levels kept in uint8 throughout (a quarter of the memory, fewer calls)
    whole_blocks: bool = False  # the paper level's reduction leaves out the ragged edge (faster)
    # A first look only: on a close polarity call or paper lines it gives no reading, nor when
    # the digit it finds is under min_digit work pixels long; the full look decides.
    defers: bool = False
    min_digit: int = 0
    decode_side: int = 0  # a JPEG is decoded with a long side of at least this (0: work_side)

    @property
    def jpeg_side(self) -> int:
        """The long side a JPEG is decoded at, at least, for this look."""
        return self.decode_side or self.work_side


@dataclass(frozen=True)
class Looks:
    """The three work sizes an upload can be looked at."""

    # One digit: localisation at 320 px long side (the JPEG decoder is asked for no more).
    full: Look = Look(work_side=320, grain=64, envelope=2)
    # A large upload's first, cheap look: the same stages on a sixth of the pixels, in uint8,
    # with a coarser paper level (16, relative to the image's size) and no shadow-following
    # envelope; a JPEG decoded at an eighth of 1000 px (125) will do. Its reading is kept when
    # the digit found is at least 24 px long, more than the 20x20 box needs (and the screen is
    # sure of it). (Development photos 256 px or larger, 1,222: 982 answered by the quick look
    # with 32, 1,066 with 24; with either, every answer on 2 x 1000 photos, crops and drawings
    # the same as the full look's. Uploads of test digits of 256 px or more: 891 of 1,000
    # photos, 632 of 700 drawings and 629 of 700 crops answered by it, and 600 held-out
    # non-digits refused alike.)
    quick: Look = Look(
        work_side=128,
        grain=16,
        envelope=0,
        uint8=True,
        whole_blocks=True,
        defers=True,
        min_digit=24,
        decode_side=128 - 8,
    )
    # A line of digits needs more pixels than one digit. (Decoded no larger than one digit's
    # 320 px allows, 1.25% fewer numbers were read exactly on development seeds:
    # reports/experiments/numbers-and-throughput.md.)
    number: Look = Look(work_side=3 * 320, grain=64, envelope=2)


@dataclass(frozen=True)
class PageTuning:
    """Polarity, paper flattening, binarisation and paper lines (:mod:`digitlib.stages.page`)."""

    small_side: int = 64  # images this small get no denoising blur and no stroke-based polarity
    min_contrast: float = 0.10  # strongest ink must differ from the paper by 10% of its level
    ambiguous_polarity: float = 0.1  # median this close (x range) to mid-grey: ask the strokes
    paper_floor: float = 0.15  # ink is measured against a paper level of at least this
    relative_ink: float = 0.45  # binarisation level, as a fraction of the strongest ink
    # Where paper lines are erased, the pixels of their band darker than midway between the
    # line's ink and the pen's are a stroke on the line, kept, provided the pen is at least this
    # many times as dark as the lines (0: off). 300 photos 64x56 of test digits 24 px tall, a
    # ruled line through the middle: read right 89.3 -> 98.0% (1.25: 95.7%, 1.5: 92.7%); lines
    # as dark as the ink (grey 20-60 on white): 80.0 -> 90.7%; development photos, crops and
    # drawings (2 x 1000 each), the benchmark's photos and numbers, held-out non-digits unchanged.
    line_strokes: float = 1.0


@dataclass(frozen=True)
class FindTuning:
    """Which components are the digit (:mod:`digitlib.stages.find`)."""

    min_digit_side: int = 8  # work-image pixels: anything smaller is a speck, not a digit
    # A piece joins the digit only when its ink is this dark (x the digit's): the edge of a
    # shadow or a smudge beside the digit stays out (photos of 2 x 1000 test digits: 98.0 ->
    # 98.3%, 98.5 -> 98.8%; crops 99.4 -> 99.3%, canvas unchanged).
    piece_ink: float = 0.7
    piece_gap: float = 0.25  # a piece this close (x the digit's long side so far) joins it, ...
    # ... and a large piece (this share of the first one's area) this close x the longer side of
    # the two: a digit broken in the middle, a 3's lower half 11 px below a 36 px top (photos and
    # crops of 2 x 1000 test digits: 2 more read right, none fewer; held-out non-digits refused
    # alike).
    large_piece: float = 0.3
    large_piece_gap: float = 0.35
    # When paper lines were erased, a piece this close (x the erased band's width) joins too: a
    # small digit crossed by a line is left in pieces further apart than piece_gap allows. (300
    # photos 64x56 of test digits 24 px tall, a ruled line through the middle: read right 64.7 ->
    # 89.3%; development uploads and held-out non-digits unchanged, the benchmark's photos 1 more.)
    line_gap: float = 1.5


@dataclass(frozen=True)
class NormaliseTuning:
    """MNIST's 20x20 box and centre of mass (:mod:`digitlib.stages.normalise`)."""

    target_stroke: float = 2.0  # MNIST strokes are about 2-3 pixels wide in the 20x20 box
    # The second look keeps the faint ink this wide (work pixels) around the strokes: see
    # stages.normalise.with_faint_ink (photos of 2 x 1000 test digits 2 more read right, none
    # fewer; numbers 2 of 1,200 more).
    faint_margin: int = 7


@dataclass(frozen=True)
class TightTuning:
    """A small, clean picture whose digit fills it (:mod:`digitlib.stages.tight`). Chosen on
    the UCI digits rendered at 64x64 with cubic interpolation (the benchmark's own rendering);
    the other renderings and every other set are measured, not tuned on."""

    max_side: int = 256  # larger pictures are photos or scans of a page: the page stage's
    min_side: int = 8
    # The border's paper no more uneven than this (0-1 levels): 3 grey levels. The UCI renderings
    # (PNG or JPEG down to quality 70) have 0-1; the few photos of test digits that are small and
    # clean enough to come here otherwise have 5 (and half of them were read worse).
    paper_spread: float = 0.012
    # ... and flat: this share of its paper within a grey level of the paper's median (the UCI
    # renderings 0.8-1; small photos of test digits 0.3-0.7: 10 of 1,000 photos 40-250 px
    # wide came here without it, and 6 of them read worse).
    flat_share: float = 0.75
    min_contrast: float = 0.25  # the strongest ink this far from the paper
    ink_level: float = 0.2  # ink at this share of the strongest is inside the digit's box
    min_fill: float = 0.4  # the digit's box spans at least this share of the picture
    faint: float = 0.05  # ink this faint (of the strongest) is not paper ...
    faint_share: float = 0.15  # ... and at most this share of the picture may be that faint
    stray_ink: float = 0.35  # no ink this strong outside the digit's box
    # The gate's view of the crop (:class:`~digitlib.stages.tight.TightCrop`) is binarised at
    # this share of the strongest ink (on the 64x64 cubic rendering, 0.2 / 0.35 / 0.5: 3 / 2 /
    # 13 of 1,797 refused; the held-out letters, scribbles and shapes refused alike).
    gate_level: float = 0.35
    box: int = 20  # the digit's long side in 28x28: MNIST's box
    bold: float = 0.2  # stroke width over the digit's long side from which a digit is bold
    bold_box: int = 18  # a bold digit's long side: MNIST's 20 less what its blurred pen adds
    # A blocky digit (repeated pixels, :func:`~digitlib.stages.tight.blocky`): its grey levels
    # change on fewer than this share of its rows or columns (the UCI digits upscaled
    # 4-10 times by nearest or area: 0.09-0.23; smoothly upscaled, clean letters, scribbles: 1,
    # shapes 0.56 and more). It is smoothed after resampling with this Gaussian sigma (28x28
    # pixels), or the network and the gate take its steps for something other than a stroke.
    blocky_changes: float = 0.4
    blocky_smooth: float = 0.8


@dataclass(frozen=True)
class RepairTuning:
    """A 28x28 input made MNIST-like (:mod:`digitlib.stages.repair`), measured on the corruption
    suite (notebook 05) and on 20,000 MNIST training digits: background median 0,
    99th-percentile ink >= 0.84, long side of the ink (> 0.35) 18-20 pixels, centre of mass
    within 13.5-14.5 on both axes; strokes 2.5-5.1 px wide (area over half the outline, 2,000
    test digits)."""

    lifted_background: float = 0.04  # a border median above this is a lifted or foggy background
    faint_ink: float = 0.6  # ink whose 99th percentile is under this is stretched to full
    clean_long_side: tuple[int, int] = (16, 24)  # all the ink: a clean digit, passed untouched
    mnist_long_side: tuple[int, int] = (16, 28)  # without stray marks: only a too-small one resized
    mnist_centre: tuple[float, float] = (12.5, 15.5)
    wide_stroke: float = 5.5  # wider than any MNIST stroke: a marker or a bled scan, eroded to ...
    thinned_stroke: float = 4.5  # ... this width (MNIST's widest tenth)
    bold_min_pixels: int = 20  # fewer ink pixels than this are never thinned
    faint_stroke: float = 0.12  # ink this faint still belongs to a stroke when it touches one
    streak_span: int = 14  # lit pixels in one row or column of 28, both ends included: a streak
    noisy_background: float = 0.12  # this share of the background lit: sensor noise, cleared
    pen_fringe: float = 0.05  # an anti-aliased stroke is 2+ px wide at this level; a pencil's 1 px
    digit_body: int = 20  # pixels of 2+ px wide ink a digit keeps once the thin lines are gone
    line_votes: int = 22  # pixels on one straight line for it to be a candidate line across
    line_lit: float = 0.6  # share of a line's pixels that must be lit, edge to edge
    line_width: float = 1.2  # mean lit width (px) of a line worth erasing: thinner is read through
    line_band: float = 2.0  # pixels either side of a found line that are its ink, at least
    screen_margin: float = 5.0  # pixels: how far refining may move a candidate line, generously


@dataclass(frozen=True)
class CascadeTuning:
    """The decision cascade (:mod:`digitlib.cascade`)."""

    # Under this top-class probability (calibrated: the sidecar's temperature applied) the answer
    # is flagged "unsure". Measured by notebook 04 on the 10,000 MNIST test digits with the
    # committed model and recorded in its sidecar ("calibration"): 0.70% of answers fall under
    # it, and they hold 18 of the model's 28 errors.
    confidence_threshold: float = 0.80
    # An answer under this probability is looked at again: a soft 28x28 input (under soft_ink of
    # its ink at full strength, where MNIST's digits have a quarter or more) smoothed, an upload
    # with the faint ink around its strokes; the two looks' probabilities averaged. Chosen on
    # corrupted digits and checked on others (MNIST test digits 5000-5999, another corruption
    # seed): frosted glass 93.5% -> 95.7%, camera shake 95.8% -> 96.3%, clean MNIST unchanged;
    # photos of 2 x 1000 test digits 2 more right, numbers 2 of 1,200 more, none fewer.
    look_again: float = 0.9
    soft_ink: float = 0.2
    # A page whose polarity was a close call (half of it in a shadow) and whose reading the gate
    # refused is read with the other polarity; that reading is taken only when the gate is this
    # sure of it, far above its own threshold, so that a photo of a letter or scribble gets no
    # easy second chance. Development photos of 2 x 1000 test digits: 2 more read right, none
    # fewer; of 2,500 held-out photos of letters and scribbles (seeds 44-48), one more accepted
    # (at 0.95 it would have been four; a second reading for every refused page, 47 of 500).
    other_polarity_score: float = 0.99


@dataclass(frozen=True)
class NumberTuning:
    """Cutting a written number into digits (:mod:`digitlib.segment`)."""

    max_digits: int = 32
    max_cuts: int = 12  # candidate cuts per blob
    max_pieces: int = 4  # a digit may span this many consecutive pieces of an over-cut blob
    digit_cost: float = 1.0  # log-probability each extra digit must earn (keeps a wide 0 whole)
    gate_weight: float = 0.3  # weight of the gate's log "one digit" score (it refuses pairs)
    # Each class's box width over height in MNIST's training digits: mean and spread of its log.
    # A window read as a 6 but as narrow as a 1 is a fragment (half a 0), not a 6. Recomputed
    # from the training set by tests/test_segment.py.
    aspect_log_mean: tuple[float, ...] = (
        -0.108, -0.943, -0.074, -0.24, -0.247, -0.077, -0.333, -0.27, -0.288, -0.403,
    )  # fmt: skip
    aspect_log_std: tuple[float, ...] = (
        0.2, 0.462, 0.222, 0.214, 0.216, 0.263, 0.219, 0.218, 0.224, 0.207,
    )  # fmt: skip
    aspect_weight: float = 0.2  # weight of that aspect prior's log-likelihood
    height_weight: float = 15  # penalty per digit height a window falls short of 0.7 of the line's
    speck: float = 0.2  # a mark whose box is under this fraction of the digits' height is a speck
    # A blob narrower than this (x its height) is one digit, never cut: two touching 1s, or a 1
    # run into a 6, are wider. (With cuts kept cut_margin from a blob's sides and digits of up to
    # max_pieces pieces: numbers read exactly on seeds 77/11/23/31 1,145 -> 1,150 of 1,200, fresh
    # seeds 41/53 569 -> 570 of 600; 0.8 kept 4 of those misread, 0.45 changed nothing.)
    narrow: float = 0.55
    cut_margin: float = 0.15  # no cut nearer a blob's side than this (x the digit height)
    stray_gap: float = 1.5  # digit heights between a mark at the picture's edge and the number
    stack_overlap: float = 0.5  # pieces overlapping in height by at most this are stacked
    stack_gap: float = 0.5  # pieces further apart in height than this (x line height) stay apart
    seam_band: float = 0.3  # a cut may lean this many digit heights from its valley (0: straight)
    seam_step: float = 0.05  # cost of a sideways step (full ink costs 1 a pixel)
    # Each valley is also cut straight down. Numbers read exactly, 300 a seed: development seeds
    # 77/11/23/31 1,150 -> 1,153 of 1,200, fresh seeds 41/53 570 -> 573, the benchmark's seed
    # 2024 284 -> 286 (read_number about 1.4x slower: more candidate digits).
    straight_cuts: bool = True
    # Doubts about the cutting that flag a reading unsure (segment.Line.doubts): a rival
    # reading (another text) with fewer, as many or more digits within this much
    # log-probability of the best; a mark left out near the number at least this tall (x the
    # digit height); a digit touching the picture's edge read under this confidence.
    rival_margin: tuple[float, float, float] = (1.5, 1.0, 0.25)
    left_out_height: float = 0.5
    edge_confidence: float = 0.95
    # A digit of a number is unsure under this confidence (a single digit: the cascade's
    # confidence_threshold). Chosen on development seeds 77 and 11 (600 numbers): wrong readings
    # not flagged 5 -> 1 (0.8 -> 0.98; 0.9: 3, 0.95: 3), right readings flagged 32 -> 77
    # (0.99: 96). A whole number is right only when every digit is.
    digit_confidence: float = 0.98


@dataclass(frozen=True)
class Tuning:
    """The serving path's tuned numbers, by the stage that reads them."""

    looks: Looks = field(default_factory=Looks)
    page: PageTuning = field(default_factory=PageTuning)
    find: FindTuning = field(default_factory=FindTuning)
    normalise: NormaliseTuning = field(default_factory=NormaliseTuning)
    repair: RepairTuning = field(default_factory=RepairTuning)
    tight: TightTuning = field(default_factory=TightTuning)
    cascade: CascadeTuning = field(default_factory=CascadeTuning)
    numbers: NumberTuning = field(default_factory=NumberTuning)


TUNING = Tuning()
