"""The command line that trains the digit CNN, evaluates it, writes its model card and pushes it.

    python -m training.train --data ../shared/data/mnist.npz --out runs/mnist
    python -m training.push runs/mnist you/mnist-sketch-cnn
"""
