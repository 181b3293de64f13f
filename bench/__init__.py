"""The intake benchmark: the exchange's intake rate against a bare Litestar endpoint, same run.

`python -m bench` starts both servers, loads each in turn and prints the ratio.
"""
