"""What the stages share, by concern: the MNIST format and download, the prepared-data
contract, params validation, output writing and stage running."""
