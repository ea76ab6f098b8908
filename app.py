"""Ettin Rerankers — Gradio app (placeholder until the app lands): says what is coming and starts instantly."""

from __future__ import annotations

import argparse


def build_app():
    import gradio as gr

    with gr.Blocks(title="Ettin Rerankers") as demo:
        gr.Markdown("# Ettin Rerankers\nSearch playground, size comparison and leaderboard are coming.")
    return demo


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description="Ettin Rerankers app")
    parser.add_argument("--host", default="127.0.0.1")
    parser.add_argument("--port", type=int, default=7860)
    args = parser.parse_args(argv)
    build_app().launch(server_name=args.host, server_port=args.port, share=False)


if __name__ == "__main__":
    main()
