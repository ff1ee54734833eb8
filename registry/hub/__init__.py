"""The Hugging Face Hub: the quiet client, model cards, licences, publish and pull. The top floor:
may import `services`, `queries`, `store` and `errors`."""
