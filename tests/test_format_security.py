"""Model output is data, never code (issue 10, item 1).

Answers that try to write files, import modules, call exec/eval/__import__, reach dunder attributes or
builtins, or smuggle code through sympy's own string-evaluating functions run through ``format_reward``,
``format_length_reward``, ``correctness_reward`` and the veRL manager in a fresh interpreter watched by a
Python audit hook (``sys.addaudithook``). The hook records every file opened for writing, every process
started (other than our own correctness child) and every module imported while the answers are scored.
A control run of sympy's own ``parse_expr`` on one of the answers proves that the hook sees the attack.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest

# {target} is replaced by a path in the test's temporary directory: the file the attacks try to create.
ATTACKS = [
    "open('{target}','w').write('x')",
    "open('{target}','a')",
    'exec(\'open("{target}","w")\')',
    'eval(\'open("{target}","w")\')',
    "__import__('os').system('touch {target}')",
    "__import__('subprocess').run(['touch','{target}'])",
    "__import__('ctypes')",
    "compile('1','{target}','eval')",
    "().__class__.__base__.__subclasses__()",
    "x.__class__.__init__.__globals__",
    "getattr(x, '__class__')",
    "globals()",
    "vars()",
    "breakpoint()",
    "input()",
    "print('{target}')",
    "lambda: open('{target}','w')",
    "[c for c in ().__class__.__mro__]",
    "sympify(\"open('{target}','w')\")",
    "parse_expr(\"open('{target}','w')\")",
    "sin(\"__import__('os').system('touch {target}')\")",
    "lambdify(x, \"open('{target}','w')\")",
    "var('x y')",
    "preview(x)",
    "test()",
    "𝐨pen('{target}','w')",  # NFKC-normalised to "open" by Python's parser
    "\\text{open('{target}','w')}",
    "\\frac{exec('1')}{2}",
    "x**open('{target}','w')",
    "1 if open('{target}','w') else 2",
    "(x:=open('{target}','w'))",
    'f\'{{open("{target}","w")}}\'',
]

PROBE = r"""
import json, os, sys
sys.dont_write_bytecode = True
target, tokenizer_dir, attacks = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
from verl_ext.rewards import correctness_reward, format_length_reward, format_reward
from verl_ext.rewards.isolation import CHILD_MODULE
from verl_ext.rewards.format import warm_up

events, watching = {"attacks": [], "control": []}, [None]
WRITE_FLAGS = os.O_WRONLY | os.O_RDWR | os.O_CREAT | os.O_APPEND | os.O_TRUNC

def hook(event, args):
    if watching[0] is None:
        return
    found = events[watching[0]]
    if event == "open":
        path, mode, flags = args
        if (isinstance(mode, str) and any(c in mode for c in "wax+")) or (
            isinstance(flags, int) and flags & WRITE_FLAGS
        ):
            found.append(["write", str(path)])
    elif event in ("subprocess.Popen", "os.system", "os.exec", "os.posix_spawn", "os.spawn", "os.fork", "os.forkpty"):
        if not any(CHILD_MODULE in str(a) for a in (args[1] if event == "subprocess.Popen" else args)):
            found.append(["process", event, repr(args)[:200]])
    elif event == "import":
        found.append(["import", str(args[0])])
    elif event in ("exec", "builtins.input", "ctypes.dlopen"):
        found.append([event, repr(args)[:120]])

def manager_for(preset):
    from hydra import compose, initialize_config_module
    from transformers import AutoTokenizer
    from verl_ext.verl.managers import MANAGERS
    with initialize_config_module(config_module="verl.trainer.config", version_base=None):
        config = compose(
            config_name="ppo_trainer",
            overrides=[f"reward.reward_manager.name={preset}", "data.max_response_length=3072"],
        )
    return MANAGERS[preset](config, AutoTokenizer.from_pretrained(tokenizer_dir))

def sample(tokenizer, text):
    import numpy as np, torch
    from verl import DataProto
    ids = tokenizer.encode(text) or [0]
    return DataProto.from_dict(
        tensors={"responses": torch.tensor([ids]), "attention_mask": torch.ones((1, len(ids)), dtype=torch.long)},
        non_tensors={"reward_model": np.array([{"ground_truth": "1/2", "style": "rule"}], dtype=object)},
    )

# everything our own code imports or starts, before watching
warm_up()
managers = {p: manager_for(p) for p in ("format_length", "correctness")}
correctness_reward("\\boxed{\\frac{1}{2}}", "0.5")
for manager in managers.values():
    manager.loop.run_until_complete(manager.run_single(sample(manager.tokenizer, "\\boxed{\\frac{1}{3}}")))
sys.addaudithook(hook)

results = []
watching[0] = "attacks"
for attack in attacks:
    response = "so \\boxed{" + attack + "}"
    row = {
        "format": format_reward(response),
        "format_length": format_length_reward(response, 100, 3072),
        "correct": correctness_reward(response, "0.5"),
    }
    for preset, manager in managers.items():
        out = manager.loop.run_until_complete(manager.run_single(sample(manager.tokenizer, response)))
        row[preset + "_manager"] = [out["reward_score"], out["reward_extra_info"]["reward_error"]]
    results.append(row)
watching[0] = None

# control: sympy's own parse_expr evaluates the first attack, and the hook must see it
from sympy.parsing.sympy_parser import parse_expr
control = attacks[0].replace(target, target + ".control")
watching[0] = "control"
try:
    parse_expr(control)
except Exception:
    pass
watching[0] = None
print(json.dumps({"results": results, "events": events["attacks"], "control_events": events["control"]}))
"""


@pytest.fixture(scope="module")
def probe(tmp_path_factory, tiny_tokenizer_dir):
    pytest.importorskip("verl")
    target = str(tmp_path_factory.mktemp("attack") / "pwned.txt")
    attacks = [attack.replace("{target}", target) for attack in ATTACKS]
    env = {**os.environ, "PYTHONDONTWRITEBYTECODE": "1"}
    done = subprocess.run(
        [sys.executable, "-c", PROBE, target, str(tiny_tokenizer_dir), json.dumps(attacks)],
        capture_output=True,
        text=True,
        env=env,
        timeout=600,
    )
    assert done.returncode == 0, done.stderr[-3000:]
    report = json.loads(done.stdout.strip().splitlines()[-1])
    report["target"] = target
    return report


def test_no_answer_writes_a_file_starts_a_process_or_imports_a_module(probe):
    assert probe["events"] == []
    assert not os.path.exists(probe["target"])


def test_the_audit_hook_sees_what_sympys_parse_expr_does_with_the_same_text(probe):
    written = [event for event in probe["control_events"] if event[0] == "write"]
    assert any(path.endswith(".control") for _, path in written)  # the release's check creates the file
    assert any(event[0] == "exec" for event in probe["control_events"])  # ... by evaluating the text
    assert os.path.exists(probe["target"] + ".control")


def test_attacks_are_not_well_formed_math(probe):
    assert len(probe["results"]) == len(ATTACKS)
    for attack, row in zip(ATTACKS, probe["results"]):
        assert row["format"] == 0.0, attack
        assert row["format_length"] <= 0.0, attack  # min(0, L): no format bonus
        assert row["correct"] == 0.0, attack
        assert row["format_length_manager"][1] == 0.0 and row["correctness_manager"] == [0.0, 0.0], attack
