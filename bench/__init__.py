"""tritonwright's benchmark suite (issue 9): kernel quality, measurement trust, cost of the tool.

Run it on a GPU with `python bench/run.py`; `bench/run.py --help` lists the modes. The modules here are
plain Python so CI tests the arithmetic, the rendering and the variant generator without a GPU.
"""
