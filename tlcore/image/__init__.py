"""Images: the kind of data TransferLab started with."""
