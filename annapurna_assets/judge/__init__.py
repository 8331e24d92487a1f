"""The verdict on each paper (relevant and novel?), and the evaluation of judges on labelled listings."""
