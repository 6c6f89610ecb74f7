"""Tiny offline stand-ins for the model families users bring: the real `model_type`, random weights,
a small BPE tokenizer carrying the family's published chat template and special-token conventions.

The templates are the families' public `chat_template` strings (from their `tokenizer_config.json`
files), copied verbatim; only the vocabulary and the weights are made up. `build_family_model`
writes a plain Hugging Face model directory that `raft train --base-model DIR` loads like a hub model.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

# ---- published chat templates ---------------------------------------------------------------------

# meta-llama/Llama-3.1-8B-Instruct, Llama-3.3-70B-Instruct (the 3.1 template)
LLAMA3_TEMPLATE = """{{- bos_token }}
{%- if custom_tools is defined %}
    {%- set tools = custom_tools %}
{%- endif %}
{%- if not tools_in_user_message is defined %}
    {%- set tools_in_user_message = true %}
{%- endif %}
{%- if not date_string is defined %}
    {%- set date_string = "26 Jul 2024" %}
{%- endif %}
{%- if not tools is defined %}
    {%- set tools = none %}
{%- endif %}

{#- This block extracts the system message, so we can slot it into the right place. #}
{%- if messages[0]['role'] == 'system' %}
    {%- set system_message = messages[0]['content']|trim %}
    {%- set messages = messages[1:] %}
{%- else %}
    {%- set system_message = "" %}
{%- endif %}

{#- System message + builtin tools #}
{{- "<|start_header_id|>system<|end_header_id|>\\n\\n" }}
{%- if builtin_tools is defined or tools is not none %}
    {{- "Environment: ipython\\n" }}
{%- endif %}
{%- if builtin_tools is defined %}
    {{- "Tools: " + builtin_tools | reject('equalto', 'code_interpreter') | join(", ") + "\\n\\n"}}
{%- endif %}
{{- "Cutting Knowledge Date: December 2023\\n" }}
{{- "Today Date: " + date_string + "\\n\\n" }}
{%- if tools is not none and not tools_in_user_message %}
    {{- "You have access to the following functions. To call a function, please respond with JSON for a function call." }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
{%- endif %}
{{- system_message }}
{{- "<|eot_id|>" }}

{#- Custom tools are passed in a user message with some extra guidance #}
{%- if tools_in_user_message and not tools is none %}
    {#- Extract the first user message so we can plug it in here #}
    {%- if messages | length != 0 %}
        {%- set first_user_message = messages[0]['content']|trim %}
        {%- set messages = messages[1:] %}
    {%- else %}
        {{- raise_exception("Cannot put tools in the first user message when there's no first user message!") }}
{%- endif %}
    {{- '<|start_header_id|>user<|end_header_id|>\\n\\n' -}}
    {{- "Given the following functions, please respond with a JSON for a function call " }}
    {{- "with its proper arguments that best answers the given prompt.\\n\\n" }}
    {{- 'Respond in the format {"name": function name, "parameters": dictionary of argument name and its value}.' }}
    {{- "Do not use variables.\\n\\n" }}
    {%- for t in tools %}
        {{- t | tojson(indent=4) }}
        {{- "\\n\\n" }}
    {%- endfor %}
    {{- first_user_message + "<|eot_id|>"}}
{%- endif %}

{%- for message in messages %}
    {%- if not (message.role == 'ipython' or message.role == 'tool' or 'tool_calls' in message) %}
        {{- '<|start_header_id|>' + message['role'] + '<|end_header_id|>\\n\\n'+ message['content'] | trim + '<|eot_id|>' }}
    {%- elif 'tool_calls' in message %}
        {%- if not message.tool_calls|length == 1 %}
            {{- raise_exception("This model only supports single tool-calls at once!") }}
        {%- endif %}
        {%- set tool_call = message.tool_calls[0].function %}
        {%- if builtin_tools is defined and tool_call.name in builtin_tools %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- "<|python_tag|>" + tool_call.name + ".call(" }}
            {%- for arg_name, arg_val in tool_call.arguments | items %}
                {{- arg_name + '="' + arg_val + '"' }}
                {%- if not loop.last %}
                    {{- ", " }}
                {%- endif %}
                {%- endfor %}
            {{- ")" }}
        {%- else  %}
            {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' -}}
            {{- '{"name": "' + tool_call.name + '", ' }}
            {{- '"parameters": ' }}
            {{- tool_call.arguments | tojson }}
            {{- "}" }}
        {%- endif %}
        {%- if builtin_tools is defined %}
            {#- This means we're in ipython mode #}
            {{- "<|eom_id|>" }}
        {%- else %}
            {{- "<|eot_id|>" }}
        {%- endif %}
    {%- elif message.role == "tool" or message.role == "ipython" %}
        {{- "<|start_header_id|>ipython<|end_header_id|>\\n\\n" }}
        {%- if message.content is mapping or message.content is iterable %}
            {{- message.content | tojson }}
        {%- else %}
            {{- message.content }}
        {%- endif %}
        {{- "<|eot_id|>" }}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|start_header_id|>assistant<|end_header_id|>\\n\\n' }}
{%- endif %}
"""

# Qwen/Qwen2.5-*-Instruct
QWEN25_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0]['role'] == 'system' %}
        {{- messages[0]['content'] }}
    {%- else %}
        {{- 'You are Qwen, created by Alibaba Cloud. You are a helpful assistant.' }}
    {%- endif %}
    {{- "\\n\\n# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0]['role'] == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0]['content'] + '<|im_end|>\\n' }}
    {%- else %}
        {{- '<|im_start|>system\\nYou are Qwen, created by Alibaba Cloud. You are a helpful assistant.<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) or (message.role == "assistant" and not message.tool_calls) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {{- '<|im_start|>' + message.role }}
        {%- if message.content %}
            {{- '\\n' + message.content }}
        {%- endif %}
        {%- for tool_call in message.tool_calls %}
            {%- if tool_call.function is defined %}
                {%- set tool_call = tool_call.function %}
            {%- endif %}
            {{- '\\n<tool_call>\\n{"name": "' }}
            {{- tool_call.name }}
            {{- '", "arguments": ' }}
            {{- tool_call.arguments | tojson }}
            {{- '}\\n</tool_call>' }}
        {%- endfor %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if (loop.index0 == 0) or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
{%- endif %}
"""

# Qwen/Qwen3-0.6B (and the other Qwen3 models)
QWEN3_TEMPLATE = """{%- if tools %}
    {{- '<|im_start|>system\\n' }}
    {%- if messages[0].role == 'system' %}
        {{- messages[0].content + '\\n\\n' }}
    {%- endif %}
    {{- "# Tools\\n\\nYou may call one or more functions to assist with the user query.\\n\\nYou are provided with function signatures within <tools></tools> XML tags:\\n<tools>" }}
    {%- for tool in tools %}
        {{- "\\n" }}
        {{- tool | tojson }}
    {%- endfor %}
    {{- "\\n</tools>\\n\\nFor each function call, return a json object with function name and arguments within <tool_call></tool_call> XML tags:\\n<tool_call>\\n{\\"name\\": <function-name>, \\"arguments\\": <args-json-object>}\\n</tool_call><|im_end|>\\n" }}
{%- else %}
    {%- if messages[0].role == 'system' %}
        {{- '<|im_start|>system\\n' + messages[0].content + '<|im_end|>\\n' }}
    {%- endif %}
{%- endif %}
{%- set ns = namespace(multi_step_tool=true, last_query_index=messages|length - 1) %}
{%- for message in messages[::-1] %}
    {%- set index = (messages|length - 1) - loop.index0 %}
    {%- if ns.multi_step_tool and message.role == "user" and not(message.content.startswith('<tool_response>') and message.content.endswith('</tool_response>')) %}
        {%- set ns.multi_step_tool = false %}
        {%- set ns.last_query_index = index %}
    {%- endif %}
{%- endfor %}
{%- for message in messages %}
    {%- if (message.role == "user") or (message.role == "system" and not loop.first) %}
        {{- '<|im_start|>' + message.role + '\\n' + message.content + '<|im_end|>' + '\\n' }}
    {%- elif message.role == "assistant" %}
        {%- set content = message.content %}
        {%- set reasoning_content = '' %}
        {%- if message.reasoning_content is defined and message.reasoning_content is not none %}
            {%- set reasoning_content = message.reasoning_content %}
        {%- else %}
            {%- if '</think>' in message.content %}
                {%- set content = message.content.split('</think>')[-1].lstrip('\\n') %}
                {%- set reasoning_content = message.content.split('</think>')[0].rstrip('\\n').split('<think>')[-1].lstrip('\\n') %}
            {%- endif %}
        {%- endif %}
        {%- if loop.index0 > ns.last_query_index %}
            {%- if loop.last or (not loop.last and reasoning_content) %}
                {{- '<|im_start|>' + message.role + '\\n<think>\\n' + reasoning_content.strip('\\n') + '\\n</think>\\n\\n' + content.lstrip('\\n') }}
            {%- else %}
                {{- '<|im_start|>' + message.role + '\\n' + content }}
            {%- endif %}
        {%- else %}
            {{- '<|im_start|>' + message.role + '\\n' + content }}
        {%- endif %}
        {%- if message.tool_calls %}
            {%- for tool_call in message.tool_calls %}
                {%- if (loop.first and content) or (not loop.first) %}
                    {{- '\\n' }}
                {%- endif %}
                {%- if tool_call.function %}
                    {%- set tool_call = tool_call.function %}
                {%- endif %}
                {{- '<tool_call>\\n{"name": "' }}
                {{- tool_call.name }}
                {{- '", "arguments": ' }}
                {%- if tool_call.arguments is string %}
                    {{- tool_call.arguments }}
                {%- else %}
                    {{- tool_call.arguments | tojson }}
                {%- endif %}
                {{- '}\\n</tool_call>' }}
            {%- endfor %}
        {%- endif %}
        {{- '<|im_end|>\\n' }}
    {%- elif message.role == "tool" %}
        {%- if loop.first or (messages[loop.index0 - 1].role != "tool") %}
            {{- '<|im_start|>user' }}
        {%- endif %}
        {{- '\\n<tool_response>\\n' }}
        {{- message.content }}
        {{- '\\n</tool_response>' }}
        {%- if loop.last or (messages[loop.index0 + 1].role != "tool") %}
            {{- '<|im_end|>\\n' }}
        {%- endif %}
    {%- endif %}
{%- endfor %}
{%- if add_generation_prompt %}
    {{- '<|im_start|>assistant\\n' }}
    {%- if enable_thinking is defined and enable_thinking is false %}
        {{- '<think>\\n\\n</think>\\n\\n' }}
    {%- endif %}
{%- endif %}"""

# google/gemma-2-2b-it (and 9b/27b): no system role
GEMMA2_TEMPLATE = (
    "{{ bos_token }}{% if messages[0]['role'] == 'system' %}{{ raise_exception('System role not supported') }}"
    "{% endif %}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if (message['role'] == 'assistant') %}{% set role = 'model' %}{% else %}{% set role = message['role'] %}"
    "{% endif %}{{ '<start_of_turn>' + role + '\n' + message['content'] | trim + '<end_of_turn>\n' }}"
    "{% endfor %}{% if add_generation_prompt %}{{'<start_of_turn>model\n'}}{% endif %}"
)

# google/gemma-3-*-it: the system message becomes a prefix of the first user turn
GEMMA3_TEMPLATE = """{{ bos_token }}
{%- if messages[0]['role'] == 'system' -%}
    {%- if messages[0]['content'] is string -%}
        {%- set first_user_prefix = messages[0]['content'] + '\\n\\n' -%}
    {%- else -%}
        {%- set first_user_prefix = messages[0]['content'][0]['text'] + '\\n\\n' -%}
    {%- endif -%}
    {%- set loop_messages = messages[1:] -%}
{%- else -%}
    {%- set first_user_prefix = "" -%}
    {%- set loop_messages = messages -%}
{%- endif -%}
{%- for message in loop_messages -%}
    {%- if (message['role'] == 'user') != (loop.index0 % 2 == 0) -%}
        {{ raise_exception("Conversation roles must alternate user/assistant/user/assistant/...") }}
    {%- endif -%}
    {%- if (message['role'] == 'assistant') -%}
        {%- set role = "model" -%}
    {%- else -%}
        {%- set role = message['role'] -%}
    {%- endif -%}
    {{ '<start_of_turn>' + role + '\\n' + (first_user_prefix if loop.first else "") }}
    {%- if message['content'] is string -%}
        {{ message['content'] | trim }}
    {%- elif message['content'] is iterable -%}
        {%- for item in message['content'] -%}
            {%- if item['type'] == 'image' -%}
                {{ '<start_of_image>' }}
            {%- elif item['type'] == 'text' -%}
                {{ item['text'] | trim }}
            {%- endif -%}
        {%- endfor -%}
    {%- else -%}
        {{ raise_exception("Invalid content type") }}
    {%- endif -%}
    {{ '<end_of_turn>\\n' }}
{%- endfor -%}
{%- if add_generation_prompt -%}
    {{'<start_of_turn>model\\n'}}
{%- endif -%}
"""

# mistralai/Mistral-7B-Instruct-v0.2: strict user/assistant alternation, no system role
MISTRAL_TEMPLATE = (
    "{{ bos_token }}{% for message in messages %}{% if (message['role'] == 'user') != (loop.index0 % 2 == 0) %}"
    "{{ raise_exception('Conversation roles must alternate user/assistant/user/assistant/...') }}{% endif %}"
    "{% if message['role'] == 'user' %}{{ '[INST] ' + message['content'] + ' [/INST]' }}"
    "{% elif message['role'] == 'assistant' %}{{ message['content'] + eos_token}}"
    "{% else %}{{ raise_exception('Only user and assistant roles are supported!') }}{% endif %}{% endfor %}"
)

# microsoft/Phi-3.5-mini-instruct (Phi-3 family)
PHI3_TEMPLATE = (
    "{% for message in messages %}{% if message['role'] == 'system' and message['content'] %}"
    "{{'<|system|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'user' %}"
    "{{'<|user|>\n' + message['content'] + '<|end|>\n'}}{% elif message['role'] == 'assistant' %}"
    "{{'<|assistant|>\n' + message['content'] + '<|end|>\n'}}{% endif %}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|assistant|>\n' }}{% else %}{{ eos_token }}{% endif %}"
)

# HuggingFaceTB/SmolLM2-*-Instruct
SMOLLM2_TEMPLATE = (
    "{% for message in messages %}{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\nYou are a helpful AI assistant named SmolLM, trained by Hugging Face<|im_end|>\n' }}"
    "{% endif %}{{'<|im_start|>' + message['role'] + '\n' + message['content'] + '<|im_end|>' + '\n'}}{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\n' }}{% endif %}"
)


# ---- the families ---------------------------------------------------------------------------------


@dataclass(frozen=True)
class Family:
    """One model family's architecture and tokenizer conventions."""

    name: str
    model_type: str
    template: str
    eos: str  # tokenizer.eos_token
    turn_end: str  # the token that closes an assistant turn in the template
    specials: tuple[str, ...]  # every special token of the family (bos/eos/pad included)
    added: tuple[str, ...] = ()  # added tokens that are not special (decoded as text)
    bos: str | None = None
    pad: str | None = None  # None: the tokenizer ships without a pad token
    unk: str | None = None
    add_bos: bool = False  # the tokenizer itself prepends BOS (and the template adds one too)
    generation_eos: tuple[str, ...] = ()  # generation_config.eos_token_id (a list when > 1)
    adaptation: str | None = None  # expected `raft.prompts.chat_adaptation`
    lora_targets: tuple[str, ...] = ("q_proj", "v_proj")  # module names LoRA must reach
    teach_steps: int = 60  # steps of `teach_fixed_answer` this architecture needs at hidden size 64
    config: dict[str, Any] = field(default_factory=dict)


FAMILIES = (
    Family(
        "llama3",
        "llama",
        LLAMA3_TEMPLATE,
        eos="<|end_of_text|>",
        turn_end="<|eot_id|>",
        bos="<|begin_of_text|>",
        add_bos=True,
        specials=(
            "<|begin_of_text|>",
            "<|end_of_text|>",
            "<|start_header_id|>",
            "<|end_header_id|>",
            "<|eot_id|>",
            "<|eom_id|>",
            "<|python_tag|>",
        ),
        generation_eos=("<|end_of_text|>", "<|eom_id|>", "<|eot_id|>"),
    ),
    Family(
        "qwen2.5",
        "qwen2",
        QWEN25_TEMPLATE,
        eos="<|im_end|>",
        turn_end="<|im_end|>",
        pad="<|endoftext|>",
        specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        generation_eos=("<|im_end|>", "<|endoftext|>"),
    ),
    Family(
        "qwen3",
        "qwen3",
        QWEN3_TEMPLATE,
        eos="<|im_end|>",
        turn_end="<|im_end|>",
        pad="<|endoftext|>",
        specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
        added=("<think>", "</think>"),
        generation_eos=("<|im_end|>", "<|endoftext|>"),
        adaptation="non-thinking",
        config={"head_dim": 16},
    ),
    Family(
        "gemma2",
        "gemma2",
        GEMMA2_TEMPLATE,
        eos="<eos>",
        turn_end="<end_of_turn>",
        bos="<bos>",
        pad="<pad>",
        unk="<unk>",
        add_bos=True,
        specials=("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"),
        generation_eos=("<eos>", "<end_of_turn>"),
        adaptation="system-in-first-user",
        teach_steps=90,
        config={
            "head_dim": 16,
            "query_pre_attn_scalar": 16,
            "sliding_window": 64,
            "final_logit_softcapping": None,  # a 64-wide model learns the fixed answer too slowly with it
            "attn_logit_softcapping": None,
        },
    ),
    Family(
        "gemma3",
        "gemma3_text",
        GEMMA3_TEMPLATE,
        eos="<eos>",
        turn_end="<end_of_turn>",
        bos="<bos>",
        pad="<pad>",
        unk="<unk>",
        add_bos=True,
        specials=("<pad>", "<eos>", "<bos>", "<unk>", "<start_of_turn>", "<end_of_turn>"),
        generation_eos=("<eos>", "<end_of_turn>"),
        config={"head_dim": 16, "query_pre_attn_scalar": 16, "sliding_window": 64},
    ),
    Family(
        "mistral",
        "mistral",
        MISTRAL_TEMPLATE,
        eos="</s>",
        turn_end="</s>",
        bos="<s>",
        unk="<unk>",
        add_bos=True,
        specials=("<unk>", "<s>", "</s>"),
        adaptation="system-in-first-user",
    ),
    Family(
        "phi3",
        "phi3",
        PHI3_TEMPLATE,
        eos="<|endoftext|>",
        turn_end="<|end|>",
        pad="<|endoftext|>",
        specials=("<|endoftext|>", "<|system|>", "<|user|>", "<|assistant|>", "<|end|>"),
        generation_eos=("<|endoftext|>", "<|end|>"),
        lora_targets=("qkv_proj", "gate_up_proj"),
    ),
    Family(
        "smollm2",
        "llama",
        SMOLLM2_TEMPLATE,
        eos="<|im_end|>",
        turn_end="<|im_end|>",
        bos="<|im_start|>",
        pad="<|im_end|>",
        specials=("<|endoftext|>", "<|im_start|>", "<|im_end|>"),
    ),
)
FAMILY_NAMES = [f.name for f in FAMILIES]


def family(name: str) -> Family:
    return next(f for f in FAMILIES if f.name == name)


# ---- building a tiny model of a family ------------------------------------------------------------


def corpus_texts(corpus: Path | None = None) -> list[str]:
    """Title and text of every document `raft index` reads from `corpus` (default: the bundled docs)."""
    from raft.index.corpus import SAMPLE_DOCS, Corpus

    return [f"{d.title}\n\n{d.text}".strip() for d in Corpus(Path(corpus or SAMPLE_DOCS)) if d.text.strip()]


def contract_texts() -> list[str]:
    """Prompt-contract text, so the tokenizer learns the words every RAFT prompt uses."""
    from raft import prompts

    c = prompts.contract()
    example = prompts.build_user_prompt("What is the answer?", [prompts.Document("Title", "Some text.")])
    quote = prompts.format_quote("a quoted sentence")
    return [c["system_prompt"], example, f"{quote} {prompts.ANSWER_TAG} {prompts.ABSTAIN_ANSWER}"] * 20


def train_base_bpe(texts: list[str], vocab_size: int = 2000) -> Any:
    """A byte-level BPE model trained on `texts` (shared by every family; specials are added per family)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=vocab_size,
        min_frequency=2,
        initial_alphabet=pre_tokenizers.ByteLevel.alphabet(),
        show_progress=False,
    )
    tok.train_from_iterator(texts, trainer)
    return tok


def family_tokenizer(fam: Family, base_bpe: Any) -> Any:
    """The family's tokenizer: the shared BPE plus the family's special tokens, BOS rule and template."""
    from tokenizers import AddedToken, Tokenizer, processors
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer.from_str(base_bpe.to_str())
    tok.add_special_tokens([AddedToken(t, special=True, normalized=False) for t in fam.specials])
    tok.add_tokens([AddedToken(t, special=False, normalized=False) for t in fam.added])
    steps = [processors.ByteLevel(trim_offsets=False)]
    if fam.add_bos:
        bos_id = tok.token_to_id(fam.bos)
        steps.append(
            processors.TemplateProcessing(
                single=f"{fam.bos} $A", pair=f"{fam.bos} $A {fam.bos} $B", special_tokens=[(fam.bos, bos_id)]
            )
        )
    tok.post_processor = processors.Sequence(steps)
    kwargs = {k: v for k, v in (("bos_token", fam.bos), ("pad_token", fam.pad), ("unk_token", fam.unk)) if v}
    hf_tok = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token=fam.eos, model_max_length=4096, **kwargs)
    hf_tok.chat_template = fam.template
    return hf_tok


def family_config(fam: Family, tokenizer: Any) -> Any:
    """A tiny config of the family's real `model_type` (hidden 64, 2 layers)."""
    from transformers import AutoConfig

    ids = tokenizer.convert_tokens_to_ids
    values: dict[str, Any] = dict(
        vocab_size=len(tokenizer),
        hidden_size=64,
        intermediate_size=128,
        num_hidden_layers=2,
        num_attention_heads=4,
        num_key_value_heads=2,
        max_position_embeddings=4096,
        tie_word_embeddings=True,
        pad_token_id=ids(fam.pad) if fam.pad else None,
        bos_token_id=ids(fam.bos) if fam.bos else None,
        eos_token_id=ids(fam.eos),
    )
    values.update(fam.config)
    return AutoConfig.for_model(fam.model_type, **values)


def build_family_model(fam: Family, base_bpe: Any, out: Path, seed: int = 0) -> Path:
    """Write a random-init tiny model of `fam` with its tokenizer and generation config to `out`."""
    import torch
    from transformers import AutoModelForCausalLM, GenerationConfig

    tokenizer = family_tokenizer(fam, base_bpe)
    config = family_config(fam, tokenizer)
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model = AutoModelForCausalLM.from_config(config)
    ids = [tokenizer.convert_tokens_to_ids(t) for t in fam.generation_eos] or [config.eos_token_id]
    model.generation_config = GenerationConfig(
        bos_token_id=config.bos_token_id,
        eos_token_id=ids if len(ids) > 1 else ids[0],
        pad_token_id=config.pad_token_id,
    )
    model.save_pretrained(out)
    tokenizer.save_pretrained(out)
    return out


# ---- a deterministic behaviour to test generation against -----------------------------------------

FIXED_ANSWER = "<ANSWER>: Yes."
JUNK = " junk words after the turn end"


def teach_fixed_answer(
    model_dir: Path, conversations: list[list[dict]], steps: int = 50, seed: int = 0
) -> list[float]:
    """Full fine-tune the tiny model, in place, to answer every prompt with FIXED_ANSWER, the family's
    turn end, then JUNK: generation that does not stop at the turn end shows the junk."""
    import torch
    from transformers import AutoModelForCausalLM, AutoTokenizer

    from raft.prompts import adapt_messages, chat_adaptation, template_kwargs

    tok = AutoTokenizer.from_pretrained(model_dir)
    model = AutoModelForCausalLM.from_pretrained(model_dir)
    adaptation = chat_adaptation(tok)
    kwargs = template_kwargs(adaptation)
    rows = []
    for conv in conversations:
        conv = adapt_messages(conv, adaptation)
        prompt = tok.apply_chat_template(conv, tokenize=False, add_generation_prompt=True, **kwargs)
        answer = [{"role": "assistant", "content": FIXED_ANSWER}]
        full = tok.apply_chat_template(conv + answer, tokenize=False, **kwargs)
        ids = tok(full + JUNK, add_special_tokens=False)["input_ids"]
        n_prompt = len(tok(prompt, add_special_tokens=False)["input_ids"])
        rows.append((ids, n_prompt))
    width = max(len(ids) for ids, _ in rows)
    input_ids = torch.zeros((len(rows), width), dtype=torch.long)
    labels = torch.full((len(rows), width), -100, dtype=torch.long)
    mask = torch.zeros((len(rows), width), dtype=torch.long)
    for i, (ids, n_prompt) in enumerate(rows):
        input_ids[i, : len(ids)] = torch.tensor(ids)
        labels[i, n_prompt : len(ids)] = torch.tensor(ids[n_prompt:])
        mask[i, : len(ids)] = 1
    opt = torch.optim.AdamW(model.parameters(), lr=5e-3)
    losses = []
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny matrices: one thread is as fast and wastes no CPU spinning
    with torch.random.fork_rng(devices=[]):
        torch.manual_seed(seed)
        model.train()
        for _ in range(steps):
            loss = model(input_ids=input_ids, attention_mask=mask, labels=labels).loss
            loss.backward()
            opt.step()
            opt.zero_grad(set_to_none=True)
            losses.append(loss.item())
    torch.set_num_threads(threads)
    model.eval()
    model.save_pretrained(model_dir)
    return losses
