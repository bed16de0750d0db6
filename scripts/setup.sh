#!/usr/bin/env bash
# Prepare a development environment: .venv with the locked dependencies and rantai
# itself (editable). Idempotent and non-interactive; safe to run on every command.
#
#   scripts/setup.sh                 Python environment only
#   scripts/setup.sh --with-browser  also Debian's Chromium (browser tests) and gettext
set -euo pipefail

cd "$(dirname "${BASH_SOURCE[0]}")/.."

VENV=.venv
STAMP="$VENV/.rantai-installed"
MIN_PYTHON="3.12"

with_browser=0
for arg in "$@"; do
    case "$arg" in
        --with-browser) with_browser=1 ;;
        -h | --help)
            sed -n '2,6p' "$0" | sed 's/^# \{0,1\}//'
            exit 0
            ;;
        *)
            echo "setup: unknown option '$arg' (use --with-browser or --help)" >&2
            exit 2
            ;;
    esac
done

say() { printf '==> %s\n' "$*"; }
die() {
    printf 'setup: %s\n' "$*" >&2
    exit 1
}

# Succeeds when the interpreter runs and is at least MIN_PYTHON.
python_ok() {
    "$1" -c 'import sys; sys.exit(0 if sys.version_info >= (3, 12) else 1)' \
        >/dev/null 2>&1
}

python_minor() {
    "$1" -c 'import sys; print("%d.%d" % sys.version_info[:2])'
}

pyenv_root() {
    if command -v pyenv >/dev/null 2>&1; then
        pyenv root
    elif [[ -n "${PYENV_ROOT:-}" ]]; then
        printf '%s\n' "$PYENV_ROOT"
    else
        printf '%s\n' "$HOME/.pyenv"
    fi
}

# Interpreters installed by pyenv for one minor version (e.g. 3.13), newest first.
pyenv_pythons() {
    local minor=$1 root dir
    root=$(pyenv_root)
    [[ -d "$root/versions" ]] || return 0
    for dir in "$root/versions/$minor" "$root/versions/$minor".*; do
        [[ -x "$dir/bin/python$minor" ]] && printf '%s\n' "$dir/bin/python$minor"
    done | sort -V -r
}

find_python() {
    local wanted="" candidate
    local -a candidates=()
    if [[ -f .python-version ]]; then
        wanted=$(head -n 1 .python-version | tr -d '[:space:]' | cut -d. -f1,2)
    fi
    # The version pinned in .python-version first (pyenv, then PATH), then any
    # other supported version.
    if [[ -n "$wanted" ]]; then
        while IFS= read -r candidate; do candidates+=("$candidate"); done \
            < <(pyenv_pythons "$wanted")
        candidates+=("python$wanted")
    fi
    candidates+=(python3.13 python3.12)
    while IFS= read -r candidate; do candidates+=("$candidate"); done \
        < <(pyenv_pythons 3.13; pyenv_pythons 3.12)
    candidates+=(python3)
    for candidate in "${candidates[@]}"; do
        if [[ "$candidate" != */* ]]; then
            candidate=$(command -v "$candidate" 2>/dev/null) || continue
        fi
        if python_ok "$candidate"; then
            printf '%s\n' "$candidate"
            return 0
        fi
    done
    return 1
}

ensure_browser() {
    local -a missing=()
    [[ -x /usr/bin/chromium ]] || missing+=(chromium)
    command -v msgfmt >/dev/null 2>&1 || missing+=(gettext)
    if ((${#missing[@]} == 0)); then
        say "Chromium present: $(/usr/bin/chromium --version 2>/dev/null || echo /usr/bin/chromium)"
        return 0
    fi
    if [[ "$(id -u)" != 0 ]]; then
        die "missing system packages: ${missing[*]}. Install them as root, e.g.
    sudo apt-get update && sudo apt-get install -y ${missing[*]}
then run this script again. (Browser tests drive Debian's /usr/bin/chromium;
Playwright's own browser download is not used.)"
    fi
    command -v apt-get >/dev/null 2>&1 ||
        die "missing system packages: ${missing[*]}, and apt-get is not available.
Install Chromium at /usr/bin/chromium and gettext (msgfmt) by other means."
    say "Installing system packages: ${missing[*]}"
    apt-get update -qq
    DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
    [[ -x /usr/bin/chromium ]] || die "apt-get finished but /usr/bin/chromium is missing"
    say "Chromium installed: $(/usr/bin/chromium --version)"
}

if ((with_browser)); then
    ensure_browser
fi

python=$(find_python) || die "no Python >= $MIN_PYTHON found (tried the version in
.python-version through pyenv, then python3.13, python3.12 and python3 on PATH).
Install Python 3.13 (for example 'pyenv install 3.13', or your distribution's
python3.13 and python3.13-venv packages) and run this script again."
want_minor=$(python_minor "$python")

# Reuse .venv only when it runs and has the same minor version as the chosen Python.
if [[ -e "$VENV" ]]; then
    if [[ -x "$VENV/bin/python" ]] && python_ok "$VENV/bin/python" &&
        [[ "$(python_minor "$VENV/bin/python")" == "$want_minor" ]]; then
        :
    else
        say "Recreating $VENV (missing, broken or not Python $want_minor)"
        rm -rf "$VENV"
    fi
fi
if [[ ! -e "$VENV" ]]; then
    say "Creating $VENV with $python ($("$python" --version 2>&1))"
    "$python" -m venv "$VENV" || {
        rm -rf "$VENV"
        die "'$python -m venv' failed. On Debian/Ubuntu install python$want_minor-venv."
    }
fi

stamp=$(
    "$VENV/bin/python" - <<'PY'
import hashlib, sys
digest = hashlib.sha256(sys.version.encode())
for name in ("requirements.lock", "pyproject.toml"):
    with open(name, "rb") as handle:
        digest.update(name.encode() + b"\0" + handle.read())
print(digest.hexdigest())
PY
)

if [[ -f "$STAMP" && "$(cat "$STAMP")" == "$stamp" && -x "$VENV/bin/rantai" ]]; then
    say "$VENV is up to date ($("$VENV/bin/python" --version 2>&1))"
else
    if [[ ! -x "$VENV/bin/uv" ]]; then
        say "Installing uv into $VENV"
        "$VENV/bin/python" -m pip install --quiet --disable-pip-version-check uv
    fi
    say "Installing locked dependencies (requirements.lock)"
    "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" -r requirements.lock
    say "Installing rantai (editable)"
    "$VENV/bin/uv" pip install --quiet --python "$VENV/bin/python" --no-deps -e .
    printf '%s\n' "$stamp" >"$STAMP"
    say "$VENV ready ($("$VENV/bin/python" --version 2>&1))"
fi

if ((!with_browser)) && ! command -v msgfmt >/dev/null 2>&1; then
    say "note: msgfmt (gettext) is missing; 'make messages' and translation checks need it"
fi
