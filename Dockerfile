# clipcapctl and the demo model in one image (docs/SCALE.md). UNBUILT: the project's machines
# have no registry access; this is the conventional two-stage build.
#   docker build -t clipcap . && docker run --rm -v "$PWD/models/samples:/in" clipcap caption /in --model /models/demo.ccm
FROM swift:6.0-bookworm AS build
RUN apt-get update && apt-get install -y --no-install-recommends \
        pkg-config libopenblas-dev libzstd-dev libpng-dev libjpeg-dev libarchive-dev \
    && rm -rf /var/lib/apt/lists/*
WORKDIR /src
COPY . .
RUN swift build -c release --product clipcapctl --static-swift-stdlib \
    && install -D .build/release/clipcapctl /out/clipcapctl

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends \
        libopenblas0-pthread libzstd1 libpng16-16 libjpeg62-turbo libarchive13 \
    && rm -rf /var/lib/apt/lists/*
COPY --from=build /out/clipcapctl /usr/local/bin/clipcapctl
COPY models/demo.ccm /models/demo.ccm
USER 65534:65534
ENTRYPOINT ["clipcapctl"]
CMD ["--help"]
