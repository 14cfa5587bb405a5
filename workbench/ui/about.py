"""Static text of the About tab."""
from __future__ import annotations

ARXIV_ID = "2402.16123"

ABOUT_MD = f"""
### What this demo does

**Knowledge editing** changes one fact inside a trained language model, say *"The Eiffel Tower is in Rome"*,
without retraining it and without disturbing unrelated facts.

**MEND** (Mitchell et al., 2022) does this with a small *editor* network: it takes the gradient of the loss
"the model should answer *Rome*" at a few MLP layers and turns it into a low-rank weight change that works in
one step. An editor trained on one kind of edit (say counterfactual facts) transfers poorly to another kind
(say recent events or questions).

**InstructEdit** (Tian et al., 2024) trains one editor on several tasks at once and puts a short **task
instruction** in front of every edit input:

```
Task: CounterFact
Description: Replace the fact stated about the subject with the new counterfactual answer.
Input: The Eiffel Tower is located in the city of
```

The instruction tells the editor which kind of edit it faces, so one editor serves many tasks, and it even
helps on a task it never saw in training (zsRE here). In the paper, the editing gradients of different tasks
separate into clusters once instructions are present (the *Gradient directions* tab).

**Here** the base model is SmolLM2-135M-Instruct (the paper used GPT2-XL, LLaMA-2 and others), so absolute
numbers differ from the paper's. Each task has 10 instructions: 9 *seen* during training and 1 *unseen*
(held out) to test generalisation to new wording.

**Metrics** (per edit): *Reliability* = share of target tokens predicted after the edit; *Generalization* =
the same on paraphrases; *Locality* = share of unrelated-probe tokens whose prediction did not change. The
model's weights are never modified: each edit is applied on the fly to one request only.

### How to cite

Bozhong Tian, Siyuan Cheng, Xiaozhuan Liang, Ningyu Zhang, Yi Hu, Kouying Xue, Yanjie Gou, Xi Chen,
Huajun Chen. *InstructEdit: Instruction-Based Knowledge Editing for Large Language Models.*
arXiv:{ARXIV_ID} (2024).

```bibtex
@article{{tian2024instructedit,
  title   = {{InstructEdit: Instruction-Based Knowledge Editing for Large Language Models}},
  author  = {{Tian, Bozhong and Cheng, Siyuan and Liang, Xiaozhuan and Zhang, Ningyu and Hu, Yi and
             Xue, Kouying and Gou, Yanjie and Chen, Xi and Chen, Huajun}},
  journal = {{arXiv preprint arXiv:{ARXIV_ID}}},
  year    = {{2024}}
}}
```

### Links

- Paper: [arxiv.org/abs/{ARXIV_ID}](https://arxiv.org/abs/{ARXIV_ID})
- The authors' code (EasyEdit): [github.com/zjunlp/EasyEdit](https://github.com/zjunlp/EasyEdit)
- MEND: [arxiv.org/abs/2110.11309](https://arxiv.org/abs/2110.11309)
- Base model: [HuggingFaceTB/SmolLM2-135M-Instruct](https://huggingface.co/HuggingFaceTB/SmolLM2-135M-Instruct)
"""
