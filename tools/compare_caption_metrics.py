"""Compare vthinker's caption metrics with pycocoevalcap on a small video-caption corpus.

pycocoevalcap is the reference implementation caption papers report (BLEU, METEOR, ROUGE-L,
CIDEr); it needs Java (its PTB tokenizer and METEOR 1.5 are jars). vthinker re-implements
it in Python (`vthinker.metrics.caption`), exactly for BLEU, ROUGE-L and CIDEr-D and as an
exact+stem variant for METEOR. This script scores ~30 hand-written segment captions (in the
style of ActivityNet Captions / YouCook2) with both and prints, per metric:

- ``pycoco``: pycocoevalcap on its own (Java) tokenisation;
- ``ours``: vthinker end to end (its Python tokenisation);
- ``ours@ptb``: vthinker's scorers on the Java tokens, which isolates scorer differences
  from tokenisation differences.

It also reports how many captions the two tokenisers split identically, METEOR 1.5 run
with only its exact and stem modules (``meteor exact+stem``, the variant vthinker
re-implements) with the number of segments where it and vthinker disagree, and METEOR's
mean of per-sentence scores next to its aggregate. ``--perturb N`` adds N captions made by
randomly editing the corpus (dropped, repeated, swapped and re-inflected words) to stress
the tokeniser and the METEOR aligner. Run it where Java and pycocoevalcap are installed
(``pip install pycocoevalcap``; not a vthinker dependency)::

    python tools/compare_caption_metrics.py [--perturb 300]
"""

from __future__ import annotations

import argparse
import os
import random
import subprocess
import sys

from vthinker.metrics.caption import (
    MeteorParams,
    _best_stats,
    caption_scores,
    cider_d,
    corpus_bleu,
    corpus_meteor,
)
from vthinker.metrics.text import rouge_l_tokens, tokenize

# (candidate, [references]) pairs: model-style captions against dense-caption references.
CORPUS: list[tuple[str, list[str]]] = [
    (
        "A man is slicing an onion on a wooden cutting board.",
        ["A man chops an onion on a cutting board.", "Someone is cutting onions into slices."],
    ),
    (
        "The woman pours the batter into a hot pan.",
        ["She pours pancake batter into a frying pan."],
    ),
    (
        "A boy in a red shirt kicks the ball towards the goal.",
        ["A young boy kicks a soccer ball into the net.", "The kid in red scores a goal."],
    ),
    (
        "Two people are dancing in a large hall while others watch.",
        ["A couple dances across the ballroom floor as a crowd looks on."],
    ),
    (
        "The chef adds salt and pepper to the soup and stirs it.",
        ["The cook seasons the soup with salt and pepper, then stirs."],
    ),
    (
        "A man lifts a heavy barbell over his head.",
        ["A weightlifter raises the barbell above his head.", "The man lifts weights."],
    ),
    (
        "A girl is brushing a horse's mane in a stable.",
        ["A girl brushes the horse's mane.", "The young woman grooms a brown horse in the barn."],
    ),
    (
        "The man wipes the car window with a cloth.",
        ["A man cleans the windshield of his car with a rag."],
    ),
    (
        "People are riding bikes down a dirt trail.",
        ["Several cyclists ride their mountain bikes along a dirt path."],
    ),
    (
        "A woman plays the violin on a stage.",
        ["A woman is playing the violin in front of an audience.", "She plays a violin solo."],
    ),
    (
        "The man spreads butter on the toast.",
        ["He spreads butter onto a slice of toasted bread."],
    ),
    (
        "A dog catches a frisbee in the park.",
        ["A dog jumps and catches the frisbee.", "The brown dog leaps to grab a flying disc."],
    ),
    (
        "Someone is whisking eggs in a glass bowl.",
        ["Eggs are beaten with a whisk in a bowl."],
    ),
    (
        "A man shovels snow from the driveway.",
        ["A man is shoveling snow off his driveway.", "Snow is being cleared with a shovel."],
    ),
    (
        "The athlete runs and jumps into the sand pit.",
        ["An athlete sprints down the runway and does a long jump into the sand."],
    ),
    (
        "A woman is applying makeup to her face.",
        ["A woman puts on eye shadow and lipstick.", "She applies makeup in front of a mirror."],
    ),
    (
        "The man plays a guitar and sings.",
        ["A man sings while playing an acoustic guitar."],
    ),
    (
        "Chopped tomatoes are added to the pan.",
        ["The tomatoes are added to the pan.", "She adds diced tomatoes to the skillet."],
    ),
    (
        "A group of kids play volleyball on the beach.",
        ["Children are playing beach volleyball.", "Kids hit a volleyball over the net."],
    ),
    (
        "The woman is knitting a scarf.",
        ["A woman knits with two needles and red yarn."],
    ),
    (
        "A man is mowing the lawn.",
        ["A man pushes a lawn mower across the grass.", "The lawn is being mowed."],
    ),
    (
        "The chef places the pizza in the oven.",
        ["The pizza is put into a brick oven.", "He slides the pizza into the oven."],
    ),
    (
        "Two men are fencing.",
        ["Two fencers in white suits duel with swords."],
    ),
    (
        "A person is surfing on a big wave.",
        ["A surfer rides a large wave.", "Someone surfs the waves in the ocean."],
    ),
    (
        "The man is painting a wall with a roller.",
        ["A man paints the wall using a paint roller."],
    ),
    (
        "A woman does push-ups on a mat.",
        ["A woman is doing push ups on a yoga mat.", "She performs several push-ups."],
    ),
    (
        "The boy is solving a Rubik's cube quickly.",
        ["A boy solves the Rubik's cube in seconds.", "The kid twists a puzzle cube."],
    ),
    (
        "Garlic is being minced with a knife.",
        ["The cook finely chops garlic."],
    ),
    (
        "A man is playing the drums in a studio.",
        ["A man plays a drum set.", "The drummer plays in a recording studio."],
    ),
    (
        "The women are washing dishes in the sink.",
        ["Two women wash the dishes at the kitchen sink."],
    ),
    (
        "A man (wearing a hat) rides a horse -- quickly!",
        ["A cowboy rides a horse.", "The man in a hat gallops on horseback."],
    ),
    (
        "It's a close-up of hands kneading dough; they don't stop.",
        ["Hands knead the dough.", "Someone kneads bread dough on a floured counter."],
    ),
]


def _pycoco_scores(gts: dict[int, list[str]], res: dict[int, list[str]]) -> dict[str, float]:
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider
    from pycocoevalcap.meteor.meteor import Meteor
    from pycocoevalcap.rouge.rouge import Rouge

    bleu, _ = Bleu(4).compute_score(gts, res, verbose=0)
    meteor = Meteor()
    m_all, m_each = meteor.compute_score(gts, res)
    out = {f"bleu_{k + 1}": b for k, b in enumerate(bleu)}
    out["meteor"] = m_all
    out["meteor (mean of sentences)"] = sum(m_each) / len(m_each)
    out["rouge_l"] = Rouge().compute_score(gts, res)[0]
    out["cider"] = Cider().compute_score(gts, res)[0]
    return out


def _ours_on_tokens(cands: list[list[str]], refs: list[list[list[str]]]) -> dict[str, float]:
    out = {f"bleu_{k + 1}": b for k, b in enumerate(corpus_bleu(cands, refs))}
    out["meteor"] = corpus_meteor(cands, refs)
    out["rouge_l"] = sum(rouge_l_tokens(c, r) for c, r in zip(cands, refs, strict=True)) / len(
        cands
    )
    out["cider"] = cider_d(cands, refs)[0]
    return out


def _java_meteor(
    gts: dict[int, list[str]], res: dict[int, list[str]], modules: str
) -> tuple[float, list[float]]:
    """METEOR 1.5 from pycocoevalcap's jar with the given modules (aggregate, per segment)."""
    import pycocoevalcap.meteor.meteor as meteor_module

    cmd = ["java", "-jar", "-Xmx2G", "meteor-1.5.jar", "-", "-", "-stdio", "-l", "en", "-norm"]
    proc = subprocess.Popen(
        [*cmd, "-m", modules],
        cwd=os.path.dirname(os.path.abspath(meteor_module.__file__)),
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    assert proc.stdin is not None and proc.stdout is not None
    stats = []
    for i in res:
        proc.stdin.write(f"SCORE ||| {' ||| '.join(gts[i])} ||| {res[i][0]}\n".encode())
        proc.stdin.flush()
        stats.append(proc.stdout.readline().decode().strip())
    proc.stdin.write(f"EVAL ||| {' ||| '.join(stats)}\n".encode())
    proc.stdin.flush()
    each = [float(proc.stdout.readline()) for _ in res]
    total = float(proc.stdout.readline())
    proc.stdin.close()
    proc.kill()
    return total, each


_INFLECT = {"s": "", "ing": "", "ed": "", "": "s"}


def _perturb(corpus: list[tuple[str, list[str]]], n: int, seed: int = 0):
    """``n`` new (candidate, references) pairs: a corpus candidate randomly edited."""
    rng = random.Random(seed)
    vocab = sorted({w for c, refs in corpus for t in [c, *refs] for w in t.split()})
    out = []
    for _ in range(n):
        cand, refs = rng.choice(corpus)
        words = cand.split()
        for _ in range(rng.randint(1, 4)):
            op = rng.choice(["drop", "repeat", "swap", "inflect", "insert"])
            k = rng.randrange(len(words))
            if op == "drop" and len(words) > 1:
                words.pop(k)
            elif op == "repeat":
                words.insert(k, words[k])
            elif op == "swap" and k + 1 < len(words):
                words[k], words[k + 1] = words[k + 1], words[k]
            elif op == "inflect":
                w = words[k].rstrip(".,!")
                for suffix, repl in _INFLECT.items():
                    if w.endswith(suffix):
                        words[k] = (w[: len(w) - len(suffix)] if suffix else w) + repl
                        break
            else:
                words.insert(k, rng.choice(vocab))
        out.append((" ".join(words), refs))
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--perturb", type=int, default=0, help="add N perturbed captions")
    args = parser.parse_args(argv)
    try:
        from pycocoevalcap.tokenizer.ptbtokenizer import PTBTokenizer
    except ImportError:
        print("pycocoevalcap is not installed: pip install pycocoevalcap", file=sys.stderr)
        return 2

    corpus = CORPUS + _perturb(CORPUS, args.perturb)
    print(f"corpus: {len(corpus)} candidates")
    gts_raw = {i: [{"caption": r} for r in refs] for i, (_, refs) in enumerate(corpus)}
    res_raw = {i: [{"caption": c}] for i, (c, _) in enumerate(corpus)}
    tok = PTBTokenizer()
    gts = tok.tokenize(gts_raw)
    res = tok.tokenize(res_raw)

    texts = [t for c, refs in corpus for t in [c, *refs]]
    java = [line for i in range(len(corpus)) for line in [*res[i], *gts[i]]]
    same = sum(tokenize(t) == j.split() for t, j in zip(texts, java, strict=True))
    print(f"tokenisation: {same}/{len(texts)} captions split identically")
    for t, j in zip(texts, java, strict=True):
        if tokenize(t) != j.split():
            print(f"  ptb : {j}\n  ours: {' '.join(tokenize(t))}")

    ref = _pycoco_scores(gts, res)
    ours = caption_scores([c for c, _ in corpus], [refs for _, refs in corpus])
    on_ptb = _ours_on_tokens(
        [res[i][0].split() for i in range(len(corpus))],
        [[r.split() for r in gts[i]] for i in range(len(corpus))],
    )
    java_es, java_es_each = _java_meteor(gts, res, "exact stem")
    ours_each = [
        _best_stats(res[i][0].split(), [r.split() for r in gts[i]], MeteorParams()).score()
        for i in range(len(corpus))
    ]
    differ = sum(abs(a - b) > 1e-9 for a, b in zip(ours_each, java_es_each, strict=True))
    print(f"METEOR exact+stem on the Java tokens: {differ}/{len(corpus)} segments differ")
    ref["meteor exact+stem"] = java_es
    ours["meteor exact+stem"] = ours["meteor"]
    on_ptb["meteor exact+stem"] = on_ptb["meteor"]
    print(f"\n{'metric':<28}{'pycoco':>10}{'ours':>10}{'diff':>10}{'ours@ptb':>10}{'diff':>10}")
    for key, value in ref.items():
        if key not in ours:
            print(f"{key:<28}{value:>10.4f}")
            continue
        print(
            f"{key:<28}{value:>10.4f}{ours[key]:>10.4f}{ours[key] - value:>+10.4f}"
            f"{on_ptb[key]:>10.4f}{on_ptb[key] - value:>+10.4f}"
        )
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
