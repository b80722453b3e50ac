# syntax=docker/dockerfile:1
# The inference gateway image: `igw run` (operator + ext_proc router + xDS server).
#   docker build -t inference-gateway .
# Runs as uid 65532 on a read-only root filesystem; only /tmp is written (mount an emptyDir).

ARG PYTHON_IMAGE=python:3.11-slim

# ---- builder: wheels and a self-contained virtualenv ---------------------------------------
FROM ${PYTHON_IMAGE} AS builder
ENV PIP_NO_CACHE_DIR=1 \
    PIP_DISABLE_PIP_VERSION_CHECK=1 \
    PYTHONDONTWRITEBYTECODE=1
WORKDIR /src
# The package maps top-level directories into one namespace (setuptools package-dir), so it
# is built as a wheel and installed from it; an editable install would point back at /src.
COPY pyproject.toml README.md ./
COPY operator/ operator/
COPY router/ router/
COPY simulator/ simulator/
COPY bench/ bench/
COPY cli/ cli/
# Every dependency ships binary wheels for linux x86_64/aarch64: no compiler is needed here.
# -P everywhere: with /src on sys.path, the top-level operator/ would shadow the stdlib module.
RUN python -P -m pip wheel --wheel-dir /wheels . \
 && python -P -m venv /opt/venv \
 && /opt/venv/bin/python -P -m pip install --no-index --find-links /wheels inference-gateway \
 && /opt/venv/bin/python -P -m pip uninstall --yes pip \
 && /opt/venv/bin/python -P -c "import inference_gateway.operator, inference_gateway.router, inference_gateway.simulator"

# ---- final: the interpreter, the virtualenv, the CRDs ---------------------------------------
FROM ${PYTHON_IMAGE}
ENV PYTHONDONTWRITEBYTECODE=1 \
    PYTHONUNBUFFERED=1 \
    HOME=/tmp \
    TMPDIR=/tmp \
    VIRTUAL_ENV=/opt/venv \
    PATH=/opt/venv/bin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin \
    IGW_CRDS_DIR=/opt/inference-gateway/crds
RUN groupadd --gid 65532 nonroot \
 && useradd --uid 65532 --gid 65532 --no-create-home --home-dir /tmp --shell /usr/sbin/nologin nonroot
COPY --from=builder /opt/venv /opt/venv
COPY crds/ /opt/inference-gateway/crds/
USER 65532:65532
WORKDIR /tmp
# ext_proc (gRPC), health (gRPC), metrics (HTTP), xDS (gRPC)
EXPOSE 9002 9003 9090 18000
ENTRYPOINT ["igw"]
CMD ["run"]
